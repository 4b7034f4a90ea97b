/**
 * Graceful stop for the CLI (Kubernetes stopping a pod sends SIGTERM, a person
 * presses Ctrl-C): the first signal aborts the returned signal, so no new unit
 * starts, the unit in flight finishes and claims are released; a second signal
 * exits at once.
 */
export function stopOnSignals(log: (line: string) => void): { readonly signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    const code = sig === "SIGINT" ? 130 : 143;
    if (ctl.signal.aborted) {
      log(`pgkeel: ${sig} again: exiting at once; what was in flight is left for the next run to settle`);
      process.exit(code);
    }
    log(`pgkeel: ${sig}: stopping: no new work starts; the unit in flight finishes, then claims are released (${sig} again exits at once)`);
    ctl.abort(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: ctl.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
