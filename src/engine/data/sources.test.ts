import { mkdtemp, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DATASET_FILE_BYTES, nodeFileSource } from './node_source';
import {
  fetchFileSource,
  memoryFileSource,
  MissingFileError,
  readFirstPresent,
  readTextIfPresent,
} from './sources';

describe('memoryFileSource', () => {
  it('reads the given bytes, lists sorted names and throws MissingFileError for others', async () => {
    const source = memoryFileSource({ 'b.bin': Uint8Array.from([2]), 'a.bin': Uint8Array.from([1]) });
    expect(Array.from(await source.read('a.bin'))).toEqual([1]);
    expect(await source.list()).toEqual(['a.bin', 'b.bin']);
    await expect(source.read('toString')).rejects.toBeInstanceOf(MissingFileError);
  });
});

describe('nodeFileSource', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'node-source-'));
    await writeFile(join(dir, 'z.txt'), 'zed');
    await writeFile(join(dir, 'a.bin'), Uint8Array.from([9, 8, 7]));
    await mkdir(join(dir, 'sub'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reads files, lists only plain files, maps ENOENT to MissingFileError', async () => {
    const source = nodeFileSource(dir);
    expect(Array.from(await source.read('a.bin'))).toEqual([9, 8, 7]);
    expect(await source.list()).toEqual(['a.bin', 'z.txt']);
    await expect(source.read('nope.bin')).rejects.toThrow(MissingFileError);
    await expect(source.read('nope.bin')).rejects.toThrow(`nope.bin not found in ${dir}`);
    await expect(nodeFileSource(join(dir, 'absent')).list()).rejects.toThrow(
      /dataset folder .*absent does not exist/,
    );
  });

  it('refuses a file larger than any dataset file before reading it', async () => {
    // a sparse file: no disk space, but stat says it is 1 byte over the limit
    await writeFile(join(dir, 'huge.bin'), '');
    await truncate(join(dir, 'huge.bin'), MAX_DATASET_FILE_BYTES + 1);
    await expect(nodeFileSource(dir).read('huge.bin')).rejects.toThrow(
      /huge\.bin is 268,435,457 bytes, more than the 268,435,456 a dataset file can be/,
    );
  });
});

describe('fetchFileSource against a local HTTP server', () => {
  let server: Server;
  let baseUrl = '';
  const requested: string[] = [];
  beforeAll(async () => {
    server = createServer((request, response) => {
      requested.push(request.url ?? '');
      if (request.url === '/data/a%20b.bin')
        response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([1, 2, 3]));
      else if (request.url === '/data/spa.bin')
        response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>');
      else if (request.url === '/data/broken.bin') response.writeHead(500).end();
      else response.writeHead(404).end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data/`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('fetches bytes (URL-encoding the name), maps 404 and an SPA html fallback to MissingFileError, reports other statuses', async () => {
    const source = fetchFileSource(baseUrl);
    expect(Array.from(await source.read('a b.bin'))).toEqual([1, 2, 3]);
    expect(requested).toContain('/data/a%20b.bin');
    expect(await source.list()).toBeNull();
    await expect(source.read('gone.bin')).rejects.toBeInstanceOf(MissingFileError);
    await expect(source.read('spa.bin')).rejects.toBeInstanceOf(MissingFileError);
    await expect(source.read('broken.bin')).rejects.toThrow(/failed with HTTP 500/);
    await expect(fetchFileSource('http://127.0.0.1:1/x').read('y')).rejects.toThrow(
      /could not fetch http:\/\/127\.0\.0\.1:1\/x\/y/,
    );
  });
});

describe('readFirstPresent / readTextIfPresent', () => {
  it('picks the first existing candidate with and without a listing', async () => {
    const memory = memoryFileSource({ x: Uint8Array.from([5]), 'x.gz': Uint8Array.from([6]) });
    expect((await readFirstPresent(memory, ['x.gz', 'x'])).name).toBe('x.gz');
    expect((await readFirstPresent(memory, ['y.gz', 'x'])).name).toBe('x');
    const unlisted = { read: (name: string) => memory.read(name), list: async () => null };
    expect(Array.from((await readFirstPresent(unlisted, ['y.gz', 'x'])).bytes)).toEqual([5]);
    await expect(readFirstPresent(unlisted, ['p', 'q'])).rejects.toThrow('p or q not found');
    expect(await readTextIfPresent(memory, 'none.txt')).toBeNull();
  });
});
