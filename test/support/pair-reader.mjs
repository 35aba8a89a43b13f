// Reads every pair under the given trees as kube-apiserver, etcd, kubeadm and Go's
// tls.LoadX509KeyPair do: the certificate by its name, then the key by its name, one after the
// other (and a kubeconfig, a trust bundle and what they must agree with). Checks use Node's
// OpenSSL (X509Certificate.checkPrivateKey, verify), not kpki's code.
//
//   node pair-reader.mjs --once ROOT...            one pass; prints {reads, mismatches}
//   node pair-reader.mjs --until STOPFILE ROOT...  passes until STOPFILE exists; prints a summary
//
// A pair read across the one rename of a switched directory's `..data` (the link target differs
// before and after the two opens) is "torn", counted apart from mismatches: kpki only switches
// a directory when a key changes, and no scheme makes two opens at two instants agree then.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const once = args[0] === '--once';
const stopFile = once ? undefined : args[1];
const roots = args.slice(once ? 1 : 2);

const link = (dir) => {
  try {
    return readlinkSync(path.join(dir, '..data'));
  } catch {
    return undefined;
  }
};
const read = (file) => {
  try {
    return readFileSync(file);
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
};
const firstCert = (pem) => new X509Certificate(pem);
const allCerts = (pem) =>
  (pem.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
const signs = (ca, leaf) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
const kubeconfigField = (text, field) => {
  const m = new RegExp(`${field}: (\\S+)`).exec(text);
  return m ? Buffer.from(m[1], 'base64') : undefined;
};

/** Directories (not following links, skipping the switch's own entries) and their files. */
function walk(dir, out = []) {
  let names;
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  out.push({ dir, names });
  for (const name of names) {
    if (name.startsWith('..')) continue;
    const full = path.join(dir, name);
    try {
      if (statSync(full).isDirectory() && !readlinkOrNull(full)) walk(full, out);
    } catch {
      // Gone while walking.
    }
  }
  return out;
}
const readlinkOrNull = (file) => {
  try {
    return readlinkSync(file);
  } catch {
    return null;
  }
};

/** The checks one pass makes: each reads its files in order and says whether they agree. */
function checks() {
  const list = [];
  for (const root of roots) {
    for (const { dir, names } of walk(root)) {
      const has = (n) => names.includes(n);
      for (const name of names) {
        const stem = name.replace(/\.key$/, '');
        if (name.endsWith('.key') && has(`${stem}.crt`))
          list.push(pairCheck(dir, [`${stem}.crt`, `${stem}.key`], (c, k) => firstCert(c).checkPrivateKey(createPrivateKey(k))));
        if (name.endsWith('.conf')) list.push(kubeconfigCheck(dir, name));
      }
      if (has('ca-signer.crt') && has('ca.key'))
        list.push(pairCheck(dir, ['ca-signer.crt', 'ca.key'], (c, k) => firstCert(c).checkPrivateKey(createPrivateKey(k))));
      if (has('sa.key') && has('sa.pub')) {
        list.push(
          pairCheck(dir, ['sa.key', 'sa.pub'], (k, pub) => {
            const want = createPublicKey(createPrivateKey(k)).export({ type: 'spki', format: 'der' });
            const keys = pub.toString().match(/-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/g) ?? [];
            return keys.some((p) => createPublicKey(p).export({ type: 'spki', format: 'der' }).equals(want));
          }),
        );
      }
      // Trust: each leaf is signed by a certificate of one of its directory tree's CA bundles.
      const bundles = ['ca.crt', 'front-proxy-ca.crt', 'etcd/ca.crt'].map((b) => path.join(dir, b)).filter(existsSync);
      if (bundles.length) {
        for (const name of names.filter((n) => n.endsWith('.crt') && !/(^|-)ca(-signer)?\.crt$/.test(n))) {
          list.push(
            crossCheck([path.join(dir, name), ...bundles], ([leaf, ...cas]) =>
              cas.flatMap(allCerts).some((ca) => signs(ca, firstCert(leaf))),
            ),
          );
        }
      }
    }
  }
  return list;
}

function pairCheck(dir, files, agree) {
  return crossCheck(
    files.map((f) => path.join(dir, f)),
    ([a, b]) => agree(a, b),
  );
}

/** A kubeconfig's client certificate and key agree, its CA data signs the certificate, and it trusts the apiserver certificate beside it. */
function kubeconfigCheck(dir, name) {
  const conf = path.join(dir, name);
  const apiserver = path.join(dir, 'pki/apiserver.crt');
  return crossCheck(
    [conf, apiserver],
    ([text, server]) => {
      const [ca, cert, key] = ['certificate-authority-data', 'client-certificate-data', 'client-key-data'].map((f) =>
        kubeconfigField(text.toString(), f),
      );
      if (!ca || !cert || !key) return true; // not an embedded kubeconfig
      const cas = allCerts(ca);
      const client = firstCert(cert);
      return (
        client.checkPrivateKey(createPrivateKey(key)) &&
        cas.some((c) => signs(c, client)) &&
        (!server || cas.some((c) => signs(c, firstCert(server))))
      );
    },
    [conf],
  );
}

/** Reads `files` one after the other (absent ones skip the check) and applies `agree`; notes the `..data` links around the reads. */
function crossCheck(files, agree, required = files) {
  return () => {
    const dirs = [...new Set(files.map(path.dirname))];
    const before = dirs.map(link).join();
    const data = files.map(read);
    const after = dirs.map(link).join();
    if (required.some((f) => data[files.indexOf(f)] === undefined)) return { ok: true, skipped: true };
    let ok;
    try {
      ok = agree(data);
    } catch {
      ok = false;
    }
    return { ok, torn: !ok && before !== after, what: files.join(' + ') };
  };
}

const summary = { reads: 0, mismatches: [], torn: 0, distinct: 0 };
const seen = new Set();
function pass() {
  for (const check of checks()) {
    const result = check();
    if (result.skipped) continue;
    summary.reads++;
    if (result.torn) summary.torn++;
    else if (!result.ok && summary.mismatches.length < 20) summary.mismatches.push(result.what);
  }
  for (const root of roots) {
    const crt = read(path.join(root, 'pki/apiserver.crt'));
    if (crt) seen.add(crt.toString());
  }
}

if (once) pass();
else {
  // A pause between passes leaves the (shared, small) machine to the writer being raced.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(stopFile)) {
    pass();
    Atomics.wait(pause, 0, 0, 2);
  }
}
summary.distinct = seen.size;
process.stdout.write(`${JSON.stringify(summary)}\n`);
