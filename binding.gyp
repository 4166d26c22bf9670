# node-gyp's build of shoal's NNG addon: build/Release/shoal_nng.node, against Debian's libnng-dev
# (scripts/install-system-deps.sh installs it; scripts/build-native.mjs runs node-gyp).
{
  "targets": [
    {
      "target_name": "shoal_nng",
      "sources": ["native/nng/shoal_nng.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lnng"],
      # Never unloaded: when the last thread that loaded the addon (an IO worker) exits, Node
      # dlcloses it, which would unmap libnng while NNG's own threads still run in it.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
