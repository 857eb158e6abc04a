/**
 * The V8 flags the image starts every process with (deploy/Dockerfile's ENTRYPOINT; a unit test
 * keeps the two equal, and `npm run bench` runs the bridge with them).
 *
 * --max-semi-space-size=4 (MiB): caps V8's young generation, which otherwise grows to 16 MiB per
 * semi-space under load and is not given back. Measured with `npm run bench -- --quick`
 * (one core, fsync): RSS peak under saturating load 249 → 177 MiB, RSS with 25k datapoints
 * spooled 153 → 130 MiB, pushes/s within the run-to-run spread (±15%); 2 MiB saved little more
 * memory for more scavenges.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
