import { deflateSync, strFromU8, strToU8 } from 'fflate';
import { parseRunConfig, type RunConfig } from '../engine/config';
import { inflateCapped, SizeLimitError } from '../worker/archives';
import { conciseError } from './messages';

/** A shared link carries the config in the URL hash: #config=<base64url(deflate(JSON))>. */
const HASH_KEY = 'config';
/**
 * Limits for a shared link, far above any real config (a full RunConfig is ~1.5 KB of JSON, ~1 KB in the link):
 * the encoded part is refused past MAX_LINK_CHARS before decoding, the JSON past MAX_CONFIG_BYTES while inflating.
 */
export const MAX_LINK_CHARS = 16_384;
export const MAX_CONFIG_BYTES = 32_768;

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
  if (encoded.length > MAX_LINK_CHARS)
    throw new Error(
      `the shared link is too long (${encoded.length} characters in its #config= part; a config link has under ${MAX_LINK_CHARS}): it was not made by this app`,
    );
  let json: string;
  try {
    json = strFromU8(
      inflateCapped(fromBase64Url(encoded), {
        format: 'deflate',
        limit: MAX_CONFIG_BYTES,
        what: 'the shared link',
      }),
    );
  } catch (error) {
    if (error instanceof SizeLimitError)
      throw new Error(
        `the shared link unpacks to more than ${MAX_CONFIG_BYTES / 1024} KiB, far more than any config: it was not made by this app`,
        { cause: error },
      );
    throw new Error(
      'the shared link is damaged: its #config= part is not a config this app wrote (copy the whole link again)',
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error('the shared link is damaged: its config is not valid JSON (copy the whole link again)');
  }
  try {
    return parseRunConfig(value);
  } catch (error) {
    // the link's own values (possibly huge) are never echoed whole
    throw new Error(`the shared link holds an invalid config: ${conciseError((error as Error).message)}`, {
      cause: error,
    });
  }
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
