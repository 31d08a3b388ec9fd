{
  description = "effect-wsgi: Python's wsgiref (PEP 3333) in TypeScript on Effect";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          # Node 20 for the project; python3 for the differential tests; wrk for the bench.
          packages = [ pkgs.nodejs_20 pkgs.python3 pkgs.wrk pkgs.curl ];
        };
      });
    };
}
