// Which build the bench measures: ../dist/index.js (what `npm run bench` builds), or the
// module named by EFFECT_WSGI_BENCH_DIST (a path), to try a patched build side by side.
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

export const distUrl = process.env.EFFECT_WSGI_BENCH_DIST
  ? pathToFileURL(resolve(process.env.EFFECT_WSGI_BENCH_DIST)).href
  : new URL("../dist/index.js", import.meta.url).href

export const loadDist = () => import(distUrl)
