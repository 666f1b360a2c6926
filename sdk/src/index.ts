/**
 * Browser entry of tagpipe.js (served as /sdk.js): installs `window.tagpipe` over the pre-load stub.
 * The default collector is the origin this script was loaded from, unless the build injected one.
 */
import { install, type SdkEnv, type Tagpipe } from './core';

/** Set at build time by functions/collector/sdk-route.ts (esbuild `define`); '' = the script's own origin. */
declare const TAGPIPE_ENDPOINT: string;

const g = globalThis as unknown as SdkEnv & {
  tagpipe?: Tagpipe;
  document: { currentScript?: { src?: string } | null };
};
const script = g.document.currentScript;
const origin = ((script && script.src) || '').replace(/^(https?:\/\/[^/]+).*$/, '$1');
install(g, TAGPIPE_ENDPOINT || origin);
