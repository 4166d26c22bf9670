// comlink ships the Node adapter's types as node-adapter.d.ts beside node-adapter.mjs, which
// TypeScript does not match to the .mjs specifier that Node needs.
declare module "comlink/dist/esm/node-adapter.mjs" {
  import type { Endpoint } from "comlink";
  import type { MessagePort, Worker } from "node:worker_threads";
  export default function nodeEndpoint(endpoint: MessagePort | Worker): Endpoint;
}
