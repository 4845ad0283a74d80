import { deflateSync, inflateSync, strFromU8, strToU8 } from 'fflate';
import { parseRunConfig, type RunConfig } from '../engine/config';

/** A shared link carries the config in the URL hash: #config=<base64url(deflate(JSON))>. */
const HASH_KEY = 'config';

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** The URL hash ("#config=...") that encodes `config`. */
export function encodeConfigHash(config: RunConfig): string {
  return `#${HASH_KEY}=${toBase64Url(deflateSync(strToU8(JSON.stringify(config)), { level: 9 }))}`;
}

/**
 * The config in a URL hash, validated; null when the hash holds no config. Throws an Error saying what is
 * wrong (not base64, not deflate, not JSON, or which fields are invalid) for a damaged or edited link.
 */
export function decodeConfigHash(hash: string): RunConfig | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const encoded = params.get(HASH_KEY);
  if (encoded === null) return null;
  let json: string;
  try {
    json = strFromU8(inflateSync(fromBase64Url(encoded)));
  } catch {
    throw new Error(
      'the shared link is damaged: its #config= part is not a config this app wrote (copy the whole link again)',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('the shared link is damaged: its config is not valid JSON (copy the whole link again)');
  }
  return parseRunConfig(value);
}

/** Parses a RunConfig JSON file's text; throws naming the problem (bad JSON with position, or each bad field). */
export function parseConfigFile(text: string, fileName: string): RunConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `${fileName} is not JSON (${(error as Error).message}); choose a RunConfig .json exported by this app or the CLI`,
      { cause: error },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(
      `${fileName} holds ${Array.isArray(value) ? 'an array' : typeof value}, not a RunConfig object`,
    );
  }
  // a run's metric-history JSON embeds its config: accept that too
  const candidate = 'config' in value && 'history' in value ? (value as { config: unknown }).config : value;
  try {
    return parseRunConfig(candidate);
  } catch (error) {
    throw new Error(`${fileName}: ${(error as Error).message}`, { cause: error });
  }
}
