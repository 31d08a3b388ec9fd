import { defineConfig } from "vitest/config"

// The tests of the gateways (the handler core, the classes, the servers and adapters): the
// "validated" project runs them a second time with every app they serve wrapped in
// `validator` (see test/support/underTest.ts), which proves the gateway side of PEP 3333.
// A brace list, not file names, so gateways that are not written yet are simply not matched.
const gatewayTests = "test/{Server,NodeListener,HttpApp,HandlerClasses,Handler,Gateways,Tls,Http2}.test.ts"

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ["default", ["json", { outputFile: "node_modules/.effect-wsgi/vitest-report.json" }]],
    projects: [
      {
        extends: true,
        test: {
          name: "default",
          include: ["test/**/*.test.ts", "docs/**/*.test.ts"]
        }
      },
      {
        extends: true,
        test: {
          name: "validated",
          include: [gatewayTests],
          env: { WSGI_VALIDATE: "1" }
        }
      }
    ]
  }
})
