// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "docs/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", setImmediate: "readonly", performance: "readonly", SharedArrayBuffer: "readonly", Atomics: "readonly", URL: "readonly", TextEncoder: "readonly", TextDecoder: "readonly" },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-syntax": ["error", { selector: "TSEnumDeclaration", message: "use an `as const` object and a union type instead of enum" }],
    },
  },
  {
    // Layers import each other only through their index.ts (DESIGN.md, section 2).
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{
          regex: "^\\.\\./(util|config|stats|lamellae|am|team|collectives|array|launch)/(?!index\\.js$).+",
          message: "import another layer through its index.js only",
        }, {
          regex: "^\\.\\./\\.\\./(util|config|stats|lamellae|am|team|collectives|array|launch)/(?!index\\.js$).+",
          message: "import another layer through its index.js only",
        }],
      }],
    },
  },
);
