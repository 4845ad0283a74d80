import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { createTar } from 'nanotar';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cifar10Dataset } from '../engine/data/cifar10';
import { nodeFileSource } from '../engine/data/node_source';
import { cifarTestPattern, makeCifarRecords } from '../engine/data/testing';
import {
  downloadWithResume,
  extractCifarTarball,
  runDatasetsCommand,
  type DownloadProgress,
} from './datasets';

/** A small archive with the official layout: five training batches of 3, 2, 1, 1 and 1 records, a test batch of 4. */
const TRAIN_LABELS = [[0, 1, 2], [3, 4], [5], [6], [7]];
const TEST_LABELS = [9, 8, 7, 6];
const META = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';
type Member = { name: string; data?: Uint8Array | string };
const officialMembers = (): Member[] => [
  { name: 'cifar-10-batches-bin/' },
  ...TRAIN_LABELS.map((labels, i) => ({
    name: `cifar-10-batches-bin/data_batch_${i + 1}.bin`,
    data: makeCifarRecords(labels, cifarTestPattern),
  })),
  { name: 'cifar-10-batches-bin/test_batch.bin', data: makeCifarRecords(TEST_LABELS, cifarTestPattern) },
  { name: 'cifar-10-batches-bin/batches.meta.txt', data: META },
  { name: 'cifar-10-batches-bin/readme.html', data: '<html></html>' },
];
const EXTRACTED = [
  'batches.meta.txt',
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
  'test_batch.bin',
];
const tarball = gzipSync(createTar(officialMembers()), { level: 1 });
const tarballMd5 = createHash('md5').update(tarball).digest('hex');

/** How the test server behaves; reset before each test. */
const server = {
  supportsRange: true,
  cutFirstResponseAfter: 0,
  status: 200,
  /** 'label': the archive's own bytes marked Content-Encoding gzip; 'double': gzipped once more and marked so */
  encoding: null as null | 'label' | 'double',
  body: tarball as Uint8Array,
  rangeHeaders: [] as (string | undefined)[],
  acceptEncodings: [] as (string | undefined)[],
};
let httpServer: Server;
let base = '';
let url = '';
let dir = '';

beforeAll(async () => {
  httpServer = createServer((request, response) => {
    const loop = /^\/loop\/(a|b)$/.exec(request.url ?? '');
    if (loop) return void response.writeHead(302, { location: loop[1] === 'a' ? '/loop/b' : 'a' }).end();
    if (request.url === '/moved')
      return void response.writeHead(301, { location: '/cifar-10-binary.tar.gz' }).end();
    server.rangeHeaders.push(request.headers.range);
    server.acceptEncodings.push(request.headers['accept-encoding']);
    if (server.status !== 200) return void response.writeHead(server.status).end();
    const payload = server.encoding === 'double' ? gzipSync(server.body) : server.body;
    const encoding = server.encoding ? { 'content-encoding': 'gzip' } : {};
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = server.supportsRange && range ? Number(range[1]) : 0;
    if (start >= payload.length && range)
      return void response.writeHead(416, { 'content-range': `bytes */${payload.length}` }).end();
    const body = payload.subarray(start);
    const headers = {
      'content-type': 'application/gzip',
      'content-length': String(body.length),
      ...encoding,
    };
    if (start > 0)
      response.writeHead(206, {
        ...headers,
        'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}`,
      });
    else response.writeHead(200, server.supportsRange ? { ...headers, 'accept-ranges': 'bytes' } : headers);
    if (server.cutFirstResponseAfter > 0) {
      const cut = server.cutFirstResponseAfter;
      server.cutFirstResponseAfter = 0;
      // Send part of the body, let it reach the client, then drop the connection.
      response.write(body.subarray(0, cut), () => setTimeout(() => response.socket?.destroy(), 50));
      return;
    }
    response.end(body);
  });
  await new Promise<void>((done) => httpServer.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  url = `${base}/cifar-10-binary.tar.gz`;
});
afterAll(() => new Promise<void>((done) => httpServer.close(() => done())));
beforeEach(async () => {
  Object.assign(server, {
    supportsRange: true,
    cutFirstResponseAfter: 0,
    status: 200,
    encoding: null,
    body: tarball,
    rangeHeaders: [],
    acceptEncodings: [],
  });
  dir = await mkdtemp(join(tmpdir(), 'datasets-cli-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

/** A ustar header block written by hand, so that its size field can say anything (nanotar's writer cannot). */
function tarHeader(name: string, sizeField: string | Uint8Array, type = '0'): Uint8Array {
  const block = new Uint8Array(512);
  const put = (text: string, at: number) => block.set(new TextEncoder().encode(text), at);
  put(name, 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  if (typeof sizeField === 'string') put(sizeField, 124);
  else block.set(sizeField, 124);
  put('00000000000\0', 136);
  put(type, 156);
  put('ustar\0', 257);
  put('00', 263);
  put('        ', 148);
  const sum = block.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

const concat = (parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

/** gzip of a tar whose first member claims 8 GB and then `megabytes` MiB of zeros follow, streamed (no big buffer). */
async function gzipBomb(megabytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  gzip.write(tarHeader('cifar-10-batches-bin/filler', '77777777777\0'));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < megabytes; i++) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return Buffer.concat(out);
}

const fast = { retryDelayMs: 0 };

describe('downloadWithResume + extractCifarTarball', () => {
  it('downloads with progress, checks the MD5 and extracts files that cifar10Dataset reads', async () => {
    const progress: DownloadProgress[] = [];
    const dest = join(dir, 'c.tar.gz');
    const result = await downloadWithResume(url, dest, {
      ...fast,
      expectedMd5: tarballMd5,
      onProgress: (p) => progress.push(p),
    });
    expect(result).toMatchObject({ bytes: tarball.length, md5: tarballMd5, attempts: 1 });
    expect(progress.at(-1)).toEqual({ receivedBytes: tarball.length, totalBytes: tarball.length });
    expect(existsSync(`${dest}.part`)).toBe(false);

    const out = join(dir, 'cifar10');
    expect(await extractCifarTarball(dest, out)).toEqual(EXTRACTED);
    expect((await readdir(out)).sort()).toEqual(EXTRACTED);
    expect(server.acceptEncodings[0]).toBe('identity');
    const dataset = await cifar10Dataset(nodeFileSource(out));
    expect(Array.from((await dataset.train()).labels)).toEqual(TRAIN_LABELS.flat());
    const test = await dataset.test();
    expect(Array.from(test.labels)).toEqual(TEST_LABELS);
    // record 3, pixel (y=4, x=5), green channel
    expect(test.images[((3 * 32 + 4) * 32 + 5) * 3 + 1]).toBe(cifarTestPattern(3, 1, 4, 5));
    // A second call finds the verified file and makes no request.
    expect((await downloadWithResume(url, dest, { ...fast, expectedMd5: tarballMd5 })).attempts).toBe(0);
    expect(server.rangeHeaders).toHaveLength(1);
  });

  it('resumes an interrupted download with a Range request for the bytes it lacks', async () => {
    server.cutFirstResponseAfter = Math.floor(tarball.length * 0.4);
    const retries: number[] = [];
    const dest = join(dir, 'c.tar.gz');
    const result = await downloadWithResume(url, dest, {
      ...fast,
      expectedMd5: tarballMd5,
      onRetry: (r) => retries.push(r.resumeFrom),
    });
    expect(server.rangeHeaders).toHaveLength(2);
    expect(server.rangeHeaders[0]).toBeUndefined();
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(server.rangeHeaders[1] ?? '')?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(Math.floor(tarball.length * 0.4));
    expect(retries).toEqual([resumedFrom]);
    expect(result.attempts).toBe(2);
    expect(Buffer.compare(await readFile(dest), tarball)).toBe(0);
  });

  it('resumes from a .part file left by an earlier run', async () => {
    const dest = join(dir, 'c.tar.gz');
    await writeFile(`${dest}.part`, tarball.subarray(0, 1000));
    await downloadWithResume(url, dest, { ...fast, expectedMd5: tarballMd5 });
    expect(server.rangeHeaders).toEqual(['bytes=1000-']);
    expect(Buffer.compare(await readFile(dest), tarball)).toBe(0);
  });

  it('restarts cleanly from byte 0 when the server ignores Range', async () => {
    server.supportsRange = false;
    server.cutFirstResponseAfter = Math.floor(tarball.length * 0.5);
    const dest = join(dir, 'c.tar.gz');
    const result = await downloadWithResume(url, dest, { ...fast, expectedMd5: tarballMd5 });
    expect(server.rangeHeaders[1]).toMatch(/^bytes=\d+-$/); // asked to resume, got the whole file (200)
    expect(result.attempts).toBe(2);
    expect(Buffer.compare(await readFile(dest), tarball)).toBe(0); // not the first half twice
  });

  it('a wrong MD5 is a clear error and leaves neither the file nor a .part', async () => {
    const dest = join(dir, 'c.tar.gz');
    await expect(downloadWithResume(url, dest, { ...fast, expectedMd5: '0'.repeat(32) })).rejects.toThrow(
      new RegExp(
        `MD5 of the download from .* is ${tarballMd5}, expected 0{32}: the file is corrupt .* it was deleted`,
      ),
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('gives up on an HTTP 404 at once, and keeps the .part with a resume hint after too many interruptions', async () => {
    server.status = 404;
    const dest = join(dir, 'c.tar.gz');
    await expect(downloadWithResume(url, dest, { ...fast, maxAttempts: 3 })).rejects.toThrow(
      /answered HTTP 404; check the URL/,
    );
    expect(server.rangeHeaders).toHaveLength(1);
    server.status = 200;
    server.cutFirstResponseAfter = 2000;
    await expect(downloadWithResume(url, dest, { ...fast, maxAttempts: 1 })).rejects.toThrow(
      /failed 1 times .* bytes are kept in .*\.part: run the command again to resume/,
    );
    expect(existsSync(`${dest}.part`)).toBe(true);
  });

  it('refuses an archive without the CIFAR-10 binary files', async () => {
    const wrong = join(dir, 'wrong.tar.gz');
    await writeFile(
      wrong,
      gzipSync(createTar([{ name: 'cifar-10-batches-py/data_batch_1', data: 'pickle' }])),
    );
    await expect(extractCifarTarball(wrong, join(dir, 'out'))).rejects.toThrow(
      /holds no data_batch_N\.bin \/ test_batch\.bin in cifar-10-batches-bin\/: it is not the CIFAR-10 binary version/,
    );
    await writeFile(wrong, 'not gzip');
    await expect(extractCifarTarball(wrong, join(dir, 'out'))).rejects.toThrow(/is not a readable \.tar\.gz/);
  });
});

describe('hostile archives and servers', () => {
  const archive = async (bytes: Uint8Array) => {
    const file = join(dir, 'hostile.tar.gz');
    await writeFile(file, bytes);
    return file;
  };

  it('refuses a member with a negative or non-octal size at once instead of looping', async () => {
    for (const size of [
      '-0000000001\0',
      // GNU base-256: a set high bit, then all ones, is -1
      new Uint8Array(12).fill(0xff),
      '12345678z01\0',
    ]) {
      const tar = concat([tarHeader('cifar-10-batches-bin/data_batch_1.bin', size), new Uint8Array(1024)]);
      await expect(extractCifarTarball(await archive(gzipSync(tar)), join(dir, 'out'))).rejects.toThrow(
        /has size field .*not an octal number: the archive is damaged or hostile/,
      );
    }
  });

  it('refuses a size larger than the archive holds, a wrong checksum and a member twice, writing nothing', async () => {
    const out = join(dir, 'out');
    const bogus = concat([
      tarHeader('cifar-10-batches-bin/readme.html', '77777777777\0'),
      new Uint8Array(2048),
    ]);
    await expect(extractCifarTarball(await archive(gzipSync(bogus)), out)).rejects.toThrow(
      /ends inside a member/,
    );
    const header = tarHeader('cifar-10-batches-bin/test_batch.bin', '00000000000\0');
    header[0] ^= 1;
    await expect(extractCifarTarball(await archive(gzipSync(header)), out)).rejects.toThrow(/wrong checksum/);
    const twice = createTar([
      ...officialMembers(),
      { name: 'cifar-10-batches-bin/test_batch.bin', data: makeCifarRecords([0], cifarTestPattern) },
    ]);
    await expect(extractCifarTarball(await archive(gzipSync(twice)), out)).rejects.toThrow(
      /test_batch\.bin appears twice/,
    );
    expect(existsSync(out) ? await readdir(out) : []).toEqual([]);
  });

  it('a member in another folder neither overwrites nor joins the real batches', async () => {
    const evil = makeCifarRecords([9, 9, 9, 9, 9, 9, 9], () => 7);
    const withEvil = createTar([...officialMembers(), { name: 'evil/data_batch_1.bin', data: evil }]);
    const out = join(dir, 'out');
    expect(await extractCifarTarball(await archive(gzipSync(withEvil)), out)).toEqual(EXTRACTED);
    const train = await (await cifar10Dataset(nodeFileSource(out))).train();
    expect(Array.from(train.labels)).toEqual(TRAIN_LABELS.flat());

    // the only data_batch_1 sits in the wrong folder: the archive lacks it, and the folder keeps its old files
    const onlyEvil = createTar([
      ...officialMembers().filter((m) => !m.name.endsWith('data_batch_1.bin')),
      { name: 'evil/data_batch_1.bin', data: evil },
    ]);
    const before = await readFile(join(out, 'data_batch_2.bin'));
    await expect(extractCifarTarball(await archive(gzipSync(onlyEvil)), out)).rejects.toThrow(
      /lacks data_batch_1\.bin: .*nothing was extracted \(skipped evil\/data_batch_1\.bin: outside cifar-10-batches-bin\/\)/,
    );
    expect(
      Buffer.compare(
        await readFile(join(out, 'data_batch_1.bin')),
        Buffer.from(makeCifarRecords(TRAIN_LABELS[0], cifarTestPattern)),
      ),
    ).toBe(0);
    expect(Buffer.compare(await readFile(join(out, 'data_batch_2.bin')), before)).toBe(0);
    expect((await readdir(out)).sort()).toEqual(EXTRACTED);
  });

  it('stops a gzip bomb: by its trailer before inflating, and by a running count when the trailer lies', async () => {
    const bomb = await gzipBomb(200);
    const out = join(dir, 'out');
    await expect(extractCifarTarball(await archive(bomb), out)).rejects.toThrow(
      /says it decompresses to 209,715,712 bytes \(gzip trailer\): the CIFAR-10 binary tar is about 184\.4 MB; 201,326,592 bytes is the most this reads/,
    );
    const lying = Uint8Array.from(bomb);
    lying.set([0, 2, 0, 0], lying.length - 4);
    await expect(extractCifarTarball(await archive(lying), out)).rejects.toThrow(
      /decompresses to more than [\d,]+ bytes: .*201,326,592 bytes is the most this reads; .*decompression bomb/,
    );
    expect(existsSync(out) ? await readdir(out) : []).toEqual([]);
  });

  it('names a redirect loop, and follows an ordinary redirect', async () => {
    const dest = join(dir, 'c.tar.gz');
    await expect(downloadWithResume(`${base}/loop/a`, dest, fast)).rejects.toThrow(
      new RegExp(
        `redirect loop: ${base}/loop/a -> ${base}/loop/b -> ${base}/loop/a; the server sends the request in a circle`,
      ),
    );
    const moved = await downloadWithResume(`${base}/moved`, dest, { ...fast, expectedMd5: tarballMd5 });
    expect(moved.md5).toBe(tarballMd5);
  });

  it('asks for no encoding and copes with a server that gzip-encodes the archive anyway', async () => {
    for (const encoding of ['label', 'double'] as const) {
      for (const expectedMd5 of [tarballMd5, undefined]) {
        server.encoding = encoding;
        const dest = join(dir, `${encoding}-${expectedMd5 ? 'md5' : 'none'}.tar.gz`);
        const result = await downloadWithResume(url, dest, { ...fast, expectedMd5 });
        expect(server.acceptEncodings.at(-1)).toBe('identity');
        expect(result.md5).toBe(tarballMd5);
        expect(result.decodedContentEncoding).toBe(encoding === 'double');
        expect(Buffer.compare(await readFile(dest), tarball)).toBe(0);
        expect(existsSync(`${dest}.part.encoded`)).toBe(false);
      }
    }
  });

  it('refuses a download larger than the archive can be', async () => {
    const dest = join(dir, 'c.tar.gz');
    await expect(downloadWithResume(url, dest, { ...fast, maxBytes: 1000 })).rejects.toThrow(
      new RegExp(
        `${url} is ${tarball.length.toLocaleString('en-US')} bytes, more than the 1,000 this archive can be`,
      ),
    );
    expect(server.rangeHeaders).toHaveLength(1);
  });
});

describe('runDatasetsCommand', () => {
  const capture = () => {
    const lines: string[] = [];
    return {
      lines,
      output: { log: (line: string) => lines.push(line), error: (line: string) => lines.push(line) },
    };
  };

  it('prints help, rejects unknown datasets, and downloads + extracts cifar10 into --out', async () => {
    const { lines, output } = capture();
    expect(await runDatasetsCommand(['--help'], output, false)).toBe(0);
    expect(lines.join('\n')).toMatch(
      /usage: npm run datasets -- <dataset>[\s\S]*--out DIR[\s\S]*--url URL[\s\S]*--md5 HEX[\s\S]*--no-verify/,
    );
    expect(await runDatasetsCommand(['imagenet'], output, false)).toBe(2);
    expect(lines.join('\n')).toMatch(/cannot download 'imagenet'; supported: cifar10/);

    const out = join(dir, 'public-cifar10');
    expect(
      await runDatasetsCommand(['cifar10', '--out', out, '--url', url, '--md5', tarballMd5], output, false),
    ).toBe(0);
    expect(lines.join('\n')).toMatch(new RegExp(`MD5 ${tarballMd5} ok`));
    expect((await readdir(out)).sort()).toEqual(EXTRACTED);
    expect(
      await runDatasetsCommand(
        ['cifar10', '--out', join(dir, 'bad'), '--url', url, '--md5', 'f'.repeat(32)],
        output,
        false,
      ),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(/^datasets: MD5 of the download/);
  });

  it('refuses --md5 "" (and any non-MD5), offering --no-verify, which never claims an MD5 was checked', async () => {
    const out = join(dir, 'c10');
    for (const md5 of ['', 'abc', 'g'.repeat(32)]) {
      const { lines, output } = capture();
      expect(
        await runDatasetsCommand(['cifar10', '--out', out, '--url', url, '--md5', md5], output, false),
      ).toBe(2);
      expect(lines.join('\n')).toMatch(
        /--md5 ".*" is not an MD5 \(32 hex digits.*\); to skip the check pass --no-verify/,
      );
    }
    expect(server.rangeHeaders).toHaveLength(0);
    const both = capture();
    expect(
      await runDatasetsCommand(
        ['cifar10', '--url', url, '--md5', tarballMd5, '--no-verify'],
        both.output,
        false,
      ),
    ).toBe(2);
    const { lines, output } = capture();
    expect(
      await runDatasetsCommand(['cifar10', '--out', out, '--url', url, '--no-verify'], output, false),
    ).toBe(0);
    expect(lines.join('\n')).toMatch(
      new RegExp(`MD5 not checked \\(--no-verify; the archive's is ${tarballMd5}`),
    );
    expect(lines.join('\n')).not.toMatch(/MD5 \S+ ok/);
    expect((await readdir(out)).sort()).toEqual(EXTRACTED);
  });

  it('a download with fewer batches than CIFAR-10 needs is an error, and writes no dataset', async () => {
    server.body = gzipSync(createTar(officialMembers().filter((m) => !/data_batch_[345]/.test(m.name))));
    const md5 = createHash('md5').update(server.body).digest('hex');
    const out = join(dir, 'short');
    const { lines, output } = capture();
    expect(
      await runDatasetsCommand(['cifar10', '--out', out, '--url', url, '--md5', md5], output, false),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(
      /^datasets: .* lacks data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin: CIFAR-10 needs all of/,
    );
    expect((await readdir(out)).filter((name) => name.endsWith('.bin'))).toEqual([]);
  });

  it('a redirect loop fails the command with the loop named', async () => {
    const { lines, output } = capture();
    expect(
      await runDatasetsCommand(
        ['cifar10', '--out', join(dir, 'x'), '--url', `${base}/loop/a`],
        output,
        false,
      ),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(/^datasets: redirect loop: .*\/loop\/a -> .*\/loop\/b -> .*\/loop\/a/);
  });
});
