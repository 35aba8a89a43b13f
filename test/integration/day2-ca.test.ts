import { copyFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renewCa } from '../../src/commands/ca-renew.js';
import { rotateCa } from '../../src/commands/rotate.js';
import { ErrorCode } from '../../src/errors.js';
import { issueExtensionApiserver } from '../../src/issue/extension.js';
import { issueKubeconfig } from '../../src/commands/kubeconfig.js';
import { parseKubeconfig } from '../../src/kubeconfig/kubeconfig.js';
import { certificateFacts, publicKeyObject } from '../../src/pki/certificate.js';
import { sameKeyPair } from '../../src/pki/keys.js';
import { parseCertificates, parseKey } from '../../src/pki/pem.js';
import { rejection } from '../support/errors.js';
import { snapshot, tempDir } from '../support/tmp.js';
import { useGoverify } from '../interop/goverify.js';
import { requireTool, Resources, runOk } from '../interop/helpers.js';
import { killMidReplacementAndRerun, makeCluster, serials, trustFailures, trustFile } from './day2-support.js';

const res = new Resources();
afterAll(() => res.dispose());
const goCheck = useGoverify(res);

const layout = (dir: string) => ({ certDir: path.join(dir, 'pki'), kubeconfigDir: dir });
const years = (date: Date) => Math.round((date.getTime() - Date.now()) / (365.25 * 86_400_000));

describe('kpki ca renew', () => {
  it('re-certifies the cluster CA with the same key, subject and key id; untouched leaves keep verifying against the new CA alone', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir, { caValidity: '2y' });
    const ext = path.join(tempDir(), 'sample');
    await issueExtensionApiserver({ service: 'api', namespace: 'wardle', ca: 'cluster', out: ext, certDir: path.join(dir, 'pki') });
    const [old] = trustFile(path.join(dir, 'pki/ca.crt'));
    const leavesBefore = serials(dir, scratch);

    const result = await renewCa({ ...layout(dir), name: 'cluster', apiServices: [`${ext}-apiservice.yaml`] });

    for (const file of [
      path.join(dir, 'pki/ca.crt'),
      path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.crt'),
      path.join(dir, 'nodes/w1/etc/kubernetes/pki/ca.crt'),
    ]) {
      const bundle = trustFile(file);
      expect(bundle).toHaveLength(1);
      const renewed = certificateFacts(bundle[0]!);
      expect(renewed.serialNumber).not.toBe(old!.serialNumber);
      expect(Buffer.from(bundle[0]!.subjectName.toArrayBuffer())).toEqual(Buffer.from(old!.subjectName.toArrayBuffer()));
      expect(Buffer.from(bundle[0]!.publicKey.rawData)).toEqual(Buffer.from(old!.publicKey.rawData));
      expect(renewed.subjectKeyId).toBe(certificateFacts(old!).subjectKeyId);
      expect(years(renewed.notAfter)).toBe(10);
    }
    // The CA key is untouched; no leaf was reissued, and every one verifies (openssl, Go) against the new CA file only.
    expect(
      sameKeyPair(
        parseKey(readFileSync(path.join(dir, 'pki/ca.key')), 'ca.key'),
        publicKeyObject(trustFile(path.join(dir, 'pki/ca.crt'))[0]!),
      ),
    ).toBe(true);
    expect(serials(dir, scratch)).toEqual(leavesBefore);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    // The APIService caBundle kpki made is the new CA and still verifies the extension apiserver's serving certificate.
    const caBundle = Buffer.from(
      (parseYaml(readFileSync(`${ext}-apiservice.yaml`, 'utf8')) as { spec: { caBundle: string } }).spec.caBundle,
      'base64',
    );
    expect(caBundle.toString()).toBe(readFileSync(path.join(dir, 'pki/ca.crt'), 'utf8'));
    const bundleFile = path.join(scratch, 'caBundle.crt');
    writeFileSync(bundleFile, caBundle);
    await runOk(requireTool('openssl'), ['verify', '-CAfile', bundleFile, `${ext}.crt`]);
    expect(await goCheck([{ kind: 'verify', cert: `${ext}.crt`, roots: bundleFile, usage: 'server', host: 'api.wardle.svc' }])).toEqual([
      { ok: true, error: '' },
    ]);
    expect(result.notes).toContain(`kubectl apply -f ${ext}-apiservice.yaml`);
    expect(result.restart.map((r) => `${r.node}/${r.component}`)).toEqual([
      'cp1/kube-apiserver',
      'cp1/kube-controller-manager',
      'cp1/kube-scheduler',
      'cp1/kubelet',
      'cp2/kube-apiserver',
      'cp2/kube-controller-manager',
      'cp2/kube-scheduler',
      'cp2/kubelet',
      'w1/kubelet',
    ]);
  });

  it('renews the etcd CA for the given validity: only etcd and the apiservers restart', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir);
    const result = await renewCa({ ...layout(dir), name: 'etcd-ca', validity: '20y' });
    expect(years(trustFile(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/etcd/ca.crt'))[0]!.notAfter)).toBe(20);
    expect(result.restart.map((r) => `${r.node}/${r.component}`)).toEqual([
      'cp1/etcd',
      'cp1/kube-apiserver',
      'cp2/etcd',
      'cp2/kube-apiserver',
    ]);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });

  it('refuses an external CA, an unknown name, and a CA being rotated, writing nothing', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    const initial = snapshot(dir);
    expect((await rejection(renewCa({ ...layout(dir), name: 'kubelet-ca' }))).subject).toBe('NAME');
    expect((await rejection(renewCa({ ...layout(dir), name: 'ca', validity: 'forever' }))).subject).toBe('--validity');
    renameSync(path.join(dir, 'pki/front-proxy-ca.key'), path.join(dir, 'offline.key'));
    expect((await rejection(renewCa({ ...layout(dir), name: 'front-proxy' }))).code).toBe(ErrorCode.ExternalCaMissing);
    renameSync(path.join(dir, 'offline.key'), path.join(dir, 'pki/front-proxy-ca.key'));
    expect(snapshot(dir)).toEqual(initial);
    await rotateCa({ ...layout(dir), step: 'begin', cas: ['etcd'] });
    const rotating = await rejection(renewCa({ ...layout(dir), name: 'etcd' }));
    expect(rotating.hint).toContain('finish or abort');
  });
});

/** Every certificate and public key in the tree, as DER/SPKI: what "no file holds an old CA" is checked on. */
function treeHolds(dir: string, spki: Buffer): string[] {
  const found: string[] = [];
  for (const [file, entry] of snapshot(dir)) {
    const text = Buffer.from(entry.split(' ')[1]!, 'base64').toString('utf8');
    const pems = [
      text,
      ...[...text.matchAll(/(?:certificate-authority-data|caBundle): (\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString()),
    ];
    for (const pem of pems) {
      if (!pem.includes('-----BEGIN CERTIFICATE')) continue;
      if (parseCertificates(Buffer.from(pem), file).some((c) => Buffer.from(c.publicKey.rawData).equals(spki))) found.push(file);
    }
  }
  return found;
}

describe('kpki ca rotate', () => {
  it('begin → reissue → finish keeps every leaf verifiable at every phase, also across phases, and ends with no old CA anywhere', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir);
    const oldCa = trustFile(path.join(dir, 'pki/ca.crt'))[0]!;
    const oldSaPub = readFileSync(path.join(dir, 'pki/sa.pub'), 'utf8');

    // A user kubeconfig kpki made, kept in step with --kubeconfig.
    const user = path.join(tempDir(), 'alice.conf');
    await issueKubeconfig({ kind: 'user', clientName: 'alice', certDir: path.join(dir, 'pki'), kubeconfigDir: dir, out: user });
    const userCredentials = () => {
      const creds = parseKubeconfig(readFileSync(user, 'utf8'), user);
      writeFileSync(path.join(scratch, 'alice.crt'), creds.clientCertificate!.data!);
      writeFileSync(path.join(scratch, 'alice.ca'), creds.certificateAuthority!.data!);
      return { cert: path.join(scratch, 'alice.crt'), ca: path.join(scratch, 'alice.ca') };
    };
    const withUser = { ...layout(dir), kubeconfigs: [user] };
    const begun = await rotateCa({ ...withUser, step: 'begin', serviceAccount: true, cas: ['cluster', 'front-proxy', 'etcd'] });
    expect(trustFile(userCredentials().ca)).toHaveLength(2);
    expect(begun.phase).toBe('begun');
    const cp1Ca = trustFile(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/ca.crt'));
    expect(cp1Ca).toHaveLength(2);
    // The first certificate is the one the key beside it signs with (kubeadm reads only the first).
    expect(
      sameKeyPair(parseKey(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/ca.key')), 'ca.key'), publicKeyObject(cp1Ca[0]!)),
    ).toBe(true);
    expect(readFileSync(path.join(dir, 'pki/sa.pub'), 'utf8').startsWith(oldSaPub)).toBe(true);
    // kube-controller-manager signs from a one-certificate file: the signer beside ca.key, named in the plan.
    const signerFile = path.join(dir, 'nodes/cp1/etc/kubernetes/pki/ca-signer.crt');
    const signsWithKey = () =>
      trustFile(signerFile).length === 1 &&
      sameKeyPair(
        parseKey(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/ca.key')), 'ca.key'),
        publicKeyObject(trustFile(signerFile)[0]!),
      );
    expect(signsWithKey()).toBe(true);
    // Named as the node names it: the node's directory is its /.
    expect(begun.restart.find((r) => r.node === 'cp1' && r.component === 'kube-controller-manager')?.flags).toEqual({
      'cluster-signing-cert-file': '/etc/kubernetes/pki/ca-signer.crt',
    });
    expect(readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/sa.pub'), 'utf8').match(/BEGIN PUBLIC KEY/g)).toHaveLength(2);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    expect((await rotateCa({ ...layout(dir), step: 'status' })).halfApplied).toBe(false);
    const oldApiserver = path.join(scratch, 'old-apiserver.crt');
    copyFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/apiserver.crt'), oldApiserver);

    const reissued = await rotateCa({ ...withUser, step: 'reissue' });
    expect(reissued.phase).toBe('reissued');
    const newCa = trustFile(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.crt'))[0]!;
    expect(
      sameKeyPair(parseKey(readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.key')), 'ca.key'), publicKeyObject(newCa)),
    ).toBe(true);
    expect(Buffer.from(newCa.publicKey.rawData)).not.toEqual(Buffer.from(oldCa.publicKey.rawData));
    expect(signsWithKey()).toBe(true);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    // A node not yet restarted still serves the old-CA leaf: the new trust file accepts it.
    await runOk(requireTool('openssl'), ['verify', '-CAfile', path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.crt'), oldApiserver]);
    expect((await rotateCa({ ...layout(dir), step: 'status' })).halfApplied).toBe(false);

    const finished = await rotateCa({ ...withUser, step: 'finish' });
    expect(finished.phase).toBe('none');
    const alice = userCredentials();
    expect(trustFile(alice.ca)).toHaveLength(1);
    expect(Buffer.from(trustFile(alice.ca)[0]!.publicKey.rawData)).toEqual(Buffer.from(newCa.publicKey.rawData));
    await runOk(requireTool('openssl'), ['verify', '-CAfile', path.join(dir, 'pki/ca.crt'), alice.cert]);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    expect(treeHolds(dir, Buffer.from(oldCa.publicKey.rawData)).filter((f) => !f.includes('rotation-archive'))).toEqual([]);
    expect(readFileSync(path.join(dir, 'nodes/cp1/etc/kubernetes/pki/sa.pub'), 'utf8').match(/BEGIN PUBLIC KEY/g)).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'pki/sa.pub'), 'utf8')).not.toContain(oldSaPub.trim());
    const archived = [...snapshot(dir).keys()].filter((f) => f.includes('rotation-archive'));
    expect(archived.map((f) => path.basename(f)).sort()).toEqual([
      'ca.crt',
      'ca.crt',
      'ca.key',
      'ca.key',
      'front-proxy-ca.crt',
      'front-proxy-ca.key',
      'sa.key',
    ]);
    for (const file of archived) expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(dir, 'pki/rotation'))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(dir, 'pki/kpki-rotation.json'), 'utf8'))).toEqual({ phase: 'none' });
  });

  it('abort after begin restores the tree; abort after reissue goes back through begun to the old CAs', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir);
    const initial = snapshot(dir);
    await rotateCa({ ...layout(dir), step: 'begin', serviceAccount: true });
    await rotateCa({ ...layout(dir), step: 'abort' });
    // Beside the record, only the controller manager's signer file is new (kept: its flag points there), holding the old CA.
    const added = (file: string) => file === 'pki/kpki-rotation.json' || file.endsWith('/ca-signer.crt');
    expect(new Map([...snapshot(dir)].filter(([file]) => !added(file)))).toEqual(initial);
    expect(readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca-signer.crt'), 'utf8')).toBe(
      readFileSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/ca.crt'), 'utf8'),
    );

    await rotateCa({ ...layout(dir), step: 'begin', serviceAccount: true });
    await rotateCa({ ...layout(dir), step: 'reissue' });
    const back = await rotateCa({ ...layout(dir), step: 'abort' });
    expect(back.phase).toBe('begun');
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    expect((await rotateCa({ ...layout(dir), step: 'status' })).halfApplied).toBe(false);
    const done = await rotateCa({ ...layout(dir), step: 'abort' });
    expect(done.phase).toBe('none');
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
    // Old CAs and keys, byte for byte, everywhere.
    const now = snapshot(dir);
    for (const file of [
      'pki/ca.crt',
      'pki/ca.key',
      'pki/etcd/ca.crt',
      'pki/sa.key',
      'pki/sa.pub',
      'nodes/cp2/etc/kubernetes/pki/ca.key',
      'nodes/w1/etc/kubernetes/pki/ca.crt',
      'nodes/cp1/etc/kubernetes/pki/sa.pub',
    ]) {
      expect(now.get(file), file).toBe(initial.get(file));
    }
    expect(existsSync(path.join(dir, 'pki/rotation'))).toBe(false);
  });

  it('refuses steps out of order and a start while verify finds errors', async () => {
    const dir = tempDir();
    await makeCluster(dir);
    expect((await rejection(rotateCa({ ...layout(dir), step: 'reissue' }))).hint).toContain('rotate begin');
    expect((await rejection(rotateCa({ ...layout(dir), step: 'abort' }))).message).toContain('no rotation');
    expect((await rejection(rotateCa({ ...layout(dir), step: 'begin', cas: ['none'] }))).subject).toBe('--ca');
    // A control plane whose apiserver certificate is not signed by the cluster CA.
    renameSync(path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.crt'), path.join(dir, 'apiserver.crt.bak'));
    copyFileSync(
      path.join(dir, 'nodes/cp2/etc/kubernetes/pki/front-proxy-client.crt'),
      path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.crt'),
    );
    const initial = snapshot(dir);
    const refused = await rejection(rotateCa({ ...layout(dir), step: 'begin' }));
    expect(refused.message).toContain('verify finds');
    expect(snapshot(dir)).toEqual(initial);
    renameSync(path.join(dir, 'apiserver.crt.bak'), path.join(dir, 'nodes/cp2/etc/kubernetes/pki/apiserver.crt'));
    await rotateCa({ ...layout(dir), step: 'begin', cas: ['front-proxy'] });
    expect((await rejection(rotateCa({ ...layout(dir), step: 'finish' }))).hint).toContain('reissue first');
    expect((await rejection(rotateCa({ ...layout(dir), step: 'begin' }))).message).toContain('phase begun');
  });

  it('a reissue killed mid-replacement is completed by the rerun: every file in the reissued phase, every leaf verifying', async () => {
    const dir = tempDir();
    const scratch = tempDir();
    await makeCluster(dir, { keyType: 'rsa-2048' });
    await rotateCa({ ...layout(dir), step: 'begin', serviceAccount: true });
    const pki = path.join(dir, 'pki');
    const result = await killMidReplacementAndRerun(
      ['ca', 'rotate', 'reissue', '--offline', '--cert-dir', pki, '--kubeconfig-dir', dir],
      pki,
    );
    expect(result.phase).toBe('reissued');
    const status = await rotateCa({ ...layout(dir), step: 'status' });
    expect(status.status!.filter((f) => f.state !== f.expected)).toEqual([]);
    expect(await trustFailures(dir, scratch, goCheck)).toEqual([]);
  });
});
