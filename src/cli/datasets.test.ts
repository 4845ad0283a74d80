import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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

/** A small archive with the official layout: two training batches of 3 and 2 records, a test batch of 4. */
const TRAIN_LABELS = [
  [0, 1, 2],
  [3, 4],
];
const TEST_LABELS = [9, 8, 7, 6];
const tarball = gzipSync(
  createTar([
    { name: 'cifar-10-batches-bin/' },
    {
      name: 'cifar-10-batches-bin/data_batch_1.bin',
      data: makeCifarRecords(TRAIN_LABELS[0], cifarTestPattern),
    },
    {
      name: 'cifar-10-batches-bin/data_batch_2.bin',
      data: makeCifarRecords(TRAIN_LABELS[1], cifarTestPattern),
    },
    { name: 'cifar-10-batches-bin/test_batch.bin', data: makeCifarRecords(TEST_LABELS, cifarTestPattern) },
    {
      name: 'cifar-10-batches-bin/batches.meta.txt',
      data: 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n',
    },
    { name: 'cifar-10-batches-bin/readme.html', data: '<html></html>' },
  ]),
  { level: 1 },
);
const tarballMd5 = createHash('md5').update(tarball).digest('hex');

/** How the test server behaves; reset before each test. */
const server = {
  supportsRange: true,
  cutFirstResponseAfter: 0,
  status: 200,
  rangeHeaders: [] as (string | undefined)[],
};
let httpServer: Server;
let url = '';
let dir = '';

beforeAll(async () => {
  httpServer = createServer((request, response) => {
    server.rangeHeaders.push(request.headers.range);
    if (server.status !== 200) return void response.writeHead(server.status).end();
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = server.supportsRange && range ? Number(range[1]) : 0;
    if (start >= tarball.length && range)
      return void response.writeHead(416, { 'content-range': `bytes */${tarball.length}` }).end();
    const body = tarball.subarray(start);
    const headers = { 'content-type': 'application/gzip', 'content-length': String(body.length) };
    if (start > 0)
      response.writeHead(206, {
        ...headers,
        'content-range': `bytes ${start}-${tarball.length - 1}/${tarball.length}`,
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
  url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/cifar-10-binary.tar.gz`;
});
afterAll(() => new Promise<void>((done) => httpServer.close(() => done())));
beforeEach(async () => {
  Object.assign(server, { supportsRange: true, cutFirstResponseAfter: 0, status: 200, rangeHeaders: [] });
  dir = await mkdtemp(join(tmpdir(), 'datasets-cli-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

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
    expect(await extractCifarTarball(dest, out)).toEqual([
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'test_batch.bin',
    ]);
    expect((await readdir(out)).sort()).toEqual([
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'test_batch.bin',
    ]);
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
      /holds no data_batch_N\.bin \/ test_batch\.bin: it is not the CIFAR-10 binary version/,
    );
    await writeFile(wrong, 'not gzip');
    await expect(extractCifarTarball(wrong, join(dir, 'out'))).rejects.toThrow(/is not a readable \.tar\.gz/);
  });
});

describe('runDatasetsCommand', () => {
  it('prints help, rejects unknown datasets, and downloads + extracts cifar10 into --out', async () => {
    const lines: string[] = [];
    const output = { log: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
    expect(await runDatasetsCommand(['--help'], output, false)).toBe(0);
    expect(lines.join('\n')).toMatch(
      /usage: npm run datasets -- <dataset>[\s\S]*--out DIR[\s\S]*--url URL[\s\S]*--md5 HEX/,
    );
    expect(await runDatasetsCommand(['imagenet'], output, false)).toBe(2);
    expect(lines.join('\n')).toMatch(/cannot download 'imagenet'; supported: cifar10/);

    const out = join(dir, 'public-cifar10');
    expect(
      await runDatasetsCommand(['cifar10', '--out', out, '--url', url, '--md5', tarballMd5], output, false),
    ).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'test_batch.bin',
    ]);
    expect(
      await runDatasetsCommand(
        ['cifar10', '--out', join(dir, 'bad'), '--url', url, '--md5', 'f'.repeat(32)],
        output,
        false,
      ),
    ).toBe(1);
    expect(lines.at(-1)).toMatch(/^datasets: MD5 of the download/);
  });
});
