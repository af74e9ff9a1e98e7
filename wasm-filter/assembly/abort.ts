// Replaces AssemblyScript's `env.abort` import (build flag `--use abort=assembly/abort/onAbort`),
// which Envoy does not provide (docs/envoy-integration.md F5.2). Logs, then traps: Envoy fails the VM
// on a trap, the only safe outcome of a bug. Never proc_exit.

import { proxy_log } from "./imports";

const LEVEL_CRITICAL: u32 = 5;

function logText(text: string): void {
  // Writes UTF-16 code units as bytes: no allocation, so an out-of-memory abort cannot recurse.
  const scratch = memory.data(256);
  const n = min<i32>(text.length, 256);
  for (let i = 0; i < n; i++) store<u8>(scratch + <usize>i, <u8>text.charCodeAt(i));
  proxy_log(LEVEL_CRITICAL, scratch, <usize>n);
}

export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  logText("trustplane filter aborted");
  if (message !== null) logText(message);
  if (fileName !== null) logText(fileName);
  // line and column are only useful together with the debug build's source map.
  if (line + column == 0) logText("(no position)");
  unreachable();
}
