import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  readonly dir: string;
  /** The CA that signed the server's certificate. */
  readonly ca: string;
  /** A CA that signed nothing the server has. */
  readonly otherCa: string;
  readonly cert: string;
  readonly key: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with the openssl CLI. Undefined without openssl. */
export function makeCerts(): TestCerts | undefined {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), "pgkeel-tls-"));
  const f = (n: string) => join(dir, n);
  const run = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore", cwd: dir });
  for (const ca of ["ca", "other-ca"]) {
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=pgkeel test ${ca}`, "-keyout", f(`${ca}.key`), "-out", f(`${ca}.crt`));
  }
  run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", f("server.key"), "-out", f("server.csr"));
  execFileSync("sh", ["-c", `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > ${f("san.ext")}`]);
  run("x509", "-req", "-in", f("server.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", f("san.ext"), "-out", f("server.crt"));
  return { dir, ca: f("ca.crt"), otherCa: f("other-ca.crt"), cert: f("server.crt"), key: f("server.key") };
}
