// Verifies Machina proof bundles in the browser, against the genesis validator set, so the
// explorer need not trust the node that serves it. It gives the answers of the Rust verifier
// (`crates/sdk/src/verify.rs`) for what it checks:
//
// - `verifyStateBundle(bundle, genesis)`: a `ProofBundle` (one state value, or its absence).
// - `verifyReadingBundle(bundle, genesis)`: a `ReadingBundle` (one device reading, end to end).
//
// Both check the finalization certificate against the genesis validators, that it finalizes
// the bundle's header, and the state proofs against the header's state root. A rejected bundle
// throws a `VerifyError` whose message says what failed (the Rust verifier's wording) and whose
// `code` names the failure for callers.
//
// Every decoder reads through a bounds-checked `Reader` and requires canonical encodings, as
// commonware-codec does: a malformed bundle throws, it never reads out of range.
//
// Where it checks less than the Rust verifier (so it may accept what that rejects):
// - a state bundle's `decoded` value is checked for accounts, devices, makers and anchors
//   only (and, for every described kind, when the value is absent); the result says so;
// - a description this page does not know is taken as is (the Rust verifier requires its
//   `decoded` to be null), so that kinds added later still verify; the result says so;
// - `decoded` JSON numbers are compared as JavaScript numbers, exact up to 2^53.

import * as ed from './vendor/noble-ed25519.js';
import { sha256, sha512 } from './vendor/noble-hashes.js';

// Synchronous SHA-512 for ed25519: WebCrypto (the async path) is missing on plain-http pages.
ed.hashes.sha512 = sha512;

// ── Errors ───────────────────────────────────────────────────────────────────────────────

/** Why a bundle is rejected: `code` is stable, `message` is for people. */
export class VerifyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'VerifyError';
    this.code = code;
  }
}

function fail(code, message) {
  throw new VerifyError(code, message);
}

/** A decoding failure inside a `Reader`; callers turn it into a `VerifyError`. */
class DecodeError extends Error {}

// ── Bytes and hex ────────────────────────────────────────────────────────────────────────

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** SHA-256 of the concatenation of `parts`. */
function hash(...parts) {
  return sha256(concat(...parts));
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Lexicographic order of equal-length byte strings (-1, 0, 1). */
function compareBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function be32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

function be64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** commonware-codec varint (LEB128) of an unsigned integer. */
function varint(n) {
  let v = BigInt(n);
  const out = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

// Rust's `str::trim` (Unicode White_Space), which `parse_hex` applies first.
const SPACE =
  '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const RUST_TRIM = new RegExp(`^${SPACE}+|${SPACE}+$`, 'g');

/**
 * Parses hex as Machina's `codec::parse_hex` does (trimmed, an optional `0x`, either case,
 * spaces and line breaks ignored); `null` if it is not hex.
 */
function parseHex(text) {
  if (typeof text !== 'string') return null;
  let s = text.replace(RUST_TRIM, '');
  if (s.startsWith('0x')) s = s.slice(2);
  s = s.replace(/[\t\n\r ]/g, '');
  if (s.startsWith('0X')) s = s.slice(2);
  if (s.length % 2 !== 0) return null;
  if (/^0[xX]/.test(s)) s = s.slice(2);
  if (!/^[0-9a-fA-F]*$/.test(s)) return null;
  return Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Parses a 32-byte value (a hash, key or address) from hex; `null` otherwise. */
function parseHash(text) {
  const bytes = parseHex(text);
  return bytes?.length === 32 ? bytes : null;
}

/** Parses an unsigned decimal as Rust's `u32`/`u64` `FromStr` does; `null` otherwise. */
function parseUint(text, bits) {
  if (!/^\+?[0-9]+$/.test(text)) return null;
  const n = BigInt(text.replace('+', ''));
  return n < 1n << BigInt(bits) ? n : null;
}

// ── Canonical decoding (commonware-codec) ────────────────────────────────────────────────

/**
 * A cursor over bytes. Fixed-width integers are big-endian; lengths and some integers are
 * varints (LEB128, shortest form, no bits beyond the type); `bool` is 0 or 1; `Option` is a
 * bool then the value; byte strings and vectors are a varint count then the items.
 */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  take(n) {
    if (n > this.bytes.length - this.at) throw new DecodeError('it ends early');
    this.at += n;
    return this.bytes.subarray(this.at - n, this.at);
  }

  u8() {
    return this.take(1)[0];
  }

  u32() {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  u64() {
    const b = this.take(8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  }

  i64() {
    return BigInt.asIntN(64, this.u64());
  }

  /** An unsigned varint of at most `bits` bits, as a BigInt. */
  varint(bits) {
    let value = 0n;
    for (let shift = 0; ; shift += 7) {
      const byte = this.u8();
      if (shift > 0 && byte === 0) throw new DecodeError('a varint is not in shortest form');
      if (bits - shift <= 7 && byte >> (bits - shift) !== 0) {
        throw new DecodeError('a varint overflows');
      }
      value |= BigInt(byte & 0x7f) << BigInt(shift);
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** A length prefix (a `u32` varint) of at most `max`. */
  length(max) {
    const n = this.varint(32);
    if (n > BigInt(max)) throw new DecodeError(`a length exceeds ${max}`);
    return Number(n);
  }

  bool() {
    const b = this.u8();
    if (b > 1) throw new DecodeError('a boolean is neither 0 nor 1');
    return b === 1;
  }

  option(read) {
    return this.bool() ? read() : null;
  }

  /** A length-prefixed byte string of at most `max` bytes. */
  byteString(max) {
    return this.take(this.length(max));
  }

  /** A length-prefixed UTF-8 string of at most `max` bytes. */
  string(max) {
    try {
      return strictUtf8.decode(this.byteString(max));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('a string is not UTF-8');
    }
  }

  /** A vector of at most `max` items read by `read`. */
  vector(max, read) {
    return Array.from({ length: this.length(max) }, () => read());
  }

  finish() {
    if (this.at !== this.bytes.length) throw new DecodeError('bytes are left over');
  }
}

/** Decodes all of `bytes` with `read(reader)`, or fails with `malformed <what>`. */
function decodeAll(bytes, what, read) {
  try {
    const r = new Reader(bytes);
    const value = read(r);
    r.finish();
    return value;
  } catch (e) {
    if (e instanceof DecodeError) fail('malformed', `malformed ${what}: ${e.message}`);
    throw e;
  }
}

// ── ed25519 keys and signatures ──────────────────────────────────────────────────────────

// The engine verifies ed25519 by ZIP-215 (commonware's vendored ed25519-consensus: any point
// encoding, cofactored equation, S below the group order): noble's `zip215` mode.
const ZIP215 = { zip215: true };

/** p = 2^255 - 19, little-endian. */
const FIELD_PRIME = Uint8Array.from({ length: 32 }, (_, i) =>
  i === 0 ? 0xed : i === 31 ? 0x7f : 0xff,
);

/** The y-coordinates (little-endian) shared by ed25519's eight points of small order. */
const SMALL_ORDER_Y = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
].map(parseHex);

/** Whether 32 bytes encode a curve point (any encoding, as the engine decodes keys). */
function isPoint(bytes) {
  try {
    ed.Point.fromBytes(bytes, true);
    return true;
  } catch {
    return false;
  }
}

/**
 * Machina's `Address::public_key`: the bytes are a key only if they are the canonical
 * encoding of a point outside the small subgroup (a weak key never verifies anything).
 */
function isStrongKey(bytes) {
  const y = bytes.slice();
  y[31] &= 0x7f;
  const reduced = compareBytes(y.slice().reverse(), FIELD_PRIME.slice().reverse()) < 0;
  return reduced && !SMALL_ORDER_Y.some((s) => equalBytes(s, y)) && isPoint(bytes);
}

/** commonware's `union_unique`: the namespace, length-prefixed, then the message. */
function unionUnique(namespace, message) {
  return concat(varint(namespace.length), namespace, message);
}

/** A commonware ed25519 signature by `key` over `message` under `namespace`. */
function verifySignature(key, namespace, message, signature) {
  return ed.verify(signature, unionUnique(namespace, message), key, ZIP215);
}

// ── Genesis and the finalization certificate ─────────────────────────────────────────────

const CHAIN_ID_LEN_MAX = 32;
const VALIDATORS_MAX = 128;

/** The genesis fields a verifier needs, checked as `Genesis::validate` checks them. */
function readGenesis(genesis) {
  const bad = (what) => fail('malformed', `malformed genesis: ${what}`);
  if (genesis === null || typeof genesis !== 'object') bad('not an object');
  const chainId = genesis.chain_id;
  if (typeof chainId !== 'string') bad('chain_id must be a string');
  const idLength = utf8.encode(chainId).length;
  if (idLength === 0 || idLength > CHAIN_ID_LEN_MAX) {
    bad(`chain_id must be 1-${CHAIN_ID_LEN_MAX} bytes`);
  }
  const list = genesis.validators;
  if (!Array.isArray(list) || list.length === 0 || list.length > VALIDATORS_MAX) {
    bad(`validators must list 1-${VALIDATORS_MAX} keys`);
  }
  const keys = list.map((v) => parseHash(v) ?? bad(`validator ${v} is not 32 bytes of hex`));
  if (!keys.every(isStrongKey)) bad('a validator is not a strong ed25519 key');
  // Consensus indexes validators in key order.
  keys.sort(compareBytes);
  if (keys.some((k, i) => i > 0 && equalBytes(k, keys[i - 1]))) bad('a validator is listed twice');
  return { chainId, validators: keys };
}

/**
 * A block header (`machina_types::block::Header`): the consensus context (round as epoch and
 * view varints, leader key, parent view varint and digest), parent, height, timestamp,
 * transaction root and count, state root, ops root and the ops range (start < end).
 */
function decodeHeader(bytes) {
  return decodeAll(bytes, 'header', (r) => {
    r.varint(64); // epoch
    r.varint(64); // view
    if (!isPoint(r.take(32))) throw new DecodeError('the leader is not an ed25519 key');
    r.varint(64); // parent view
    r.take(32); // parent digest (context)
    r.take(32); // parent
    const height = r.u64();
    r.u64(); // timestamp
    r.take(32); // transaction root
    r.u32(); // transaction count
    const stateRoot = r.take(32);
    r.take(32); // ops root
    if (r.u64() >= r.u64()) throw new DecodeError('the ops range is empty');
    return { height, stateRoot };
  });
}

/**
 * A simplex finalization with the ed25519 scheme's certificate: the proposal (epoch, view,
 * parent view as varints, then the block digest), a signer bitmap (its length in bits as a
 * big-endian u64, at most the validator count, then its bytes, least significant bit first,
 * unused bits zero) and a vector of 64-byte signatures, one per signer.
 */
function decodeFinalization(bytes, validators) {
  return decodeAll(bytes, 'finalization', (r) => {
    const start = r.at;
    r.varint(64);
    r.varint(64);
    r.varint(64);
    const payload = r.take(32);
    const proposal = r.bytes.slice(start, r.at);
    const length = r.u64();
    if (length > BigInt(validators)) throw new DecodeError('the signer bitmap is too long');
    const bits = Number(length);
    const bitmap = r.take(Math.ceil(bits / 8));
    if (bits % 8 !== 0 && bitmap[bitmap.length - 1] >> (bits % 8) !== 0) {
      throw new DecodeError('the signer bitmap has bits set past its end');
    }
    const signers = [];
    for (let i = 0; i < bits; i++) if (bitmap[i >> 3] & (1 << (i & 7))) signers.push(i);
    if (signers.length === 0) throw new DecodeError('the certificate has no signers');
    const signatures = r.vector(validators, () => r.take(64));
    if (signatures.length !== signers.length) {
      throw new DecodeError('the certificate has not one signature per signer');
    }
    return { proposal, payload, bits, signers, signatures };
  });
}

/** The consensus quorum of `n` validators: n - f, with f = (n - 1) / 3 faults tolerated. */
function quorum(n) {
  return n - Math.floor((n - 1) / 3);
}

/** Whether a quorum of `validators` signed the finalize vote on the certificate's proposal. */
function certificateVerifies(cert, chainId, validators) {
  if (cert.bits !== validators.length || cert.signers.length < quorum(validators.length)) {
    return false;
  }
  const namespace = utf8.encode(`machina/${chainId}/consensus_FINALIZE`);
  return cert.signers.every((index, i) =>
    verifySignature(validators[index], namespace, cert.proposal, cert.signatures[i]),
  );
}

/** `verify_finalized`: the header the certificate finalizes, checked against the genesis. */
function verifyFinalized(bundle, genesis) {
  const { chainId, validators } = readGenesis(genesis);
  if (bundle.chain_id !== chainId) {
    const [ours, theirs] = [bundle.chain_id, chainId].map((id) => JSON.stringify(id));
    fail('wrong-chain', `the proof is for chain ${ours}, the genesis for ${theirs}`);
  }
  const headerBytes = parseHex(bundle.header) ?? fail('malformed', 'malformed header: not hex');
  const header = decodeHeader(headerBytes);
  if (header.height !== BigInt(bundle.height)) {
    fail('height', `the header is at height ${header.height}, the bundle claims ${bundle.height}`);
  }
  const certBytes =
    parseHex(bundle.finalization) ?? fail('malformed', 'malformed finalization: not hex');
  const cert = decodeFinalization(certBytes, validators.length);
  if (!certificateVerifies(cert, chainId, validators)) {
    fail(
      'bad-certificate',
      'the finalization certificate is not signed by a quorum of the validators',
    );
  }
  // The block digest is the SHA-256 of the header's (canonical) encoding.
  const block = sha256(headerBytes);
  if (!equalBytes(cert.payload, block)) {
    fail('other-block', 'the certificate finalizes another block than the header');
  }
  return { height: header.height, block, stateRoot: header.stateRoot };
}

// ── State proofs ─────────────────────────────────────────────────────────────────────────
//
// The state is a commonware-storage QMDB `current::ordered` database over an MMR. Each state
// write is an operation in a log; an MMR over the operations' encodings is "grafted" with a
// bitmap of which operations are active: at height 8 (a chunk of 256 operations, 32 bytes of
// bitmap), a non-zero chunk is hashed over the subtree root. The state root is
// SHA-256(ops root || grafted root [|| bits in the trailing partial chunk || its digest]).
//
// A proof shows one operation active: `Update(key, value, next_key)` proves the key's value
// (the ordered database links each key to the next one), and an update whose span
// key..next_key (wrapping around) holds a key proves that key absent.

const CHUNK_BYTES = 32;
const CHUNK_BITS = 256n; // operations per bitmap chunk
const GRAFTING_HEIGHT = 8; // log2(CHUNK_BITS)
const MAX_LEAVES = 1n << 62n; // the MMR's largest leaf count
const MAX_PROOF_DIGESTS = 122; // `MAX_PROOF_DIGESTS_PER_ELEMENT`
const VALUE_LEN_MAX = 64 * 1024; // the state's largest value
const MMR_DOMAIN = 0; // `Family::DOMAIN` of the MMR
const BACKWARD_FOLD_DOMAIN = 1; // `Bagging::domain` of QMDB's root bagging
const UPDATE_OP = 0xd2;
const COMMIT_OP = 0xd3;

function readLocation(r) {
  const loc = r.varint(64);
  if (loc > MAX_LEAVES) throw new DecodeError('a location exceeds the largest MMR');
  return loc;
}

/**
 * An operation proof: the operation's location, its bitmap chunk, and a range proof: the
 * MMR's leaf count, its inactive peak count, the digests, the trailing partial chunk's digest
 * (if any) and the ops root.
 */
function readOperationProof(r) {
  return {
    loc: readLocation(r),
    chunk: r.take(CHUNK_BYTES),
    leaves: readLocation(r),
    inactivePeaks: r.varint(64),
    digests: r.vector(MAX_PROOF_DIGESTS, () => r.take(32)),
    partialDigest: r.option(() => r.take(32)),
    opsRoot: r.take(32),
  };
}

/** An inclusion proof: the operation proof, then the next key. */
function decodeInclusion(bytes) {
  const r = new Reader(bytes);
  const proof = readOperationProof(r);
  const nextKey = r.take(32);
  r.finish();
  return { proof, nextKey };
}

/**
 * An exclusion proof: tag 0, an operation proof and the update (key, value, next key) whose
 * span holds the key; or tag 1, an operation proof and the commit's metadata, for an empty
 * database.
 */
function decodeExclusion(bytes) {
  const r = new Reader(bytes);
  const tag = r.u8();
  if (tag > 1) throw new DecodeError('unknown exclusion proof');
  const proof = readOperationProof(r);
  const readValue = () => r.byteString(VALUE_LEN_MAX);
  const result =
    tag === 0
      ? { proof, update: { key: r.take(32), value: readValue(), nextKey: r.take(32) } }
      : { proof, metadata: r.option(readValue) };
  r.finish();
  return result;
}

function updateOperation(key, value, nextKey) {
  return concat([UPDATE_OP], key, varint(value.length), value, nextKey);
}

function commitOperation(metadata, floor) {
  const meta = metadata === null ? [0] : concat([1], varint(metadata.length), metadata);
  return concat([COMMIT_OP], meta, varint(floor));
}

/** Whether `key` is in start..end, a span that wraps around when start >= end. */
function containsCyclic(start, end, key) {
  const afterStart = compareBytes(key, start) >= 0;
  const beforeEnd = compareBytes(key, end) < 0;
  return compareBytes(start, end) >= 0 ? afterStart || beforeEnd : afterStart && beforeEnd;
}

/** The MMR's peaks, oldest (tallest) first: one per set bit of the leaf count. */
function mmrPeaks(leaves) {
  const peaks = [];
  let leafStart = 0n;
  let nodes = 0n;
  for (let height = 62; height >= 0; height--) {
    const width = 1n << BigInt(height);
    if ((leaves & width) === 0n) continue;
    nodes += 2n * width - 1n;
    peaks.push({ pos: nodes - 1n, height, leafStart });
    leafStart += width;
  }
  return peaks;
}

function leafEnd(node) {
  return node.leafStart + (1n << BigInt(node.height));
}

function children(node) {
  const height = node.height - 1;
  const left = { pos: node.pos - (1n << BigInt(node.height)), height, leafStart: node.leafStart };
  const right = { pos: node.pos - 1n, height, leafStart: leafEnd(left) };
  return [left, right];
}

/**
 * Rebuilds the digest of the subtree `node` that holds the proven operation at `loc`,
 * walking left child first and taking the digest of each subtree beside the path from
 * `siblings` in that order. Nodes hash their ops-space position; at the grafting height the
 * proven operation's bitmap chunk, if not all zero, is hashed over the subtree root.
 */
function rebuildSubtree(node, loc, operation, chunk, siblings) {
  if (leafEnd(node) <= loc || node.leafStart > loc) return siblings.shift(); // one per level
  if (node.height === 0) return hash(be64(node.pos), operation);
  const [left, right] = children(node);
  const l = rebuildSubtree(left, loc, operation, chunk, siblings);
  const r = rebuildSubtree(right, loc, operation, chunk, siblings);
  const digest = hash(be64(node.pos), l, r);
  const grafted = node.height === GRAFTING_HEIGHT && chunk.some((b) => b !== 0);
  return grafted ? hash(chunk, digest) : digest;
}

/**
 * The MMR root from the peaks: the first `fold` are folded forward into an accumulator,
 * the rest are bagged backward (newest first) and folded into it; the root commits to the
 * family, the bagging, the leaf count and (if any) the inactive peak count.
 */
function bagPeaks(leaves, fold, inactive, peaks) {
  let acc = peaks[0];
  let i = 1;
  for (let k = 1; k < fold; k++) {
    if (i >= peaks.length) return null;
    acc = hash(acc, peaks[i++]);
  }
  const rest = peaks.slice(i);
  if (rest.length > 0) {
    const bag = rest.reduceRight((newer, peak) => hash(peak, newer));
    acc = hash(acc, bag);
  }
  const domain = Uint8Array.of(MMR_DOMAIN, BACKWARD_FOLD_DOMAIN);
  const committed = inactive === 0 ? [] : [be64(inactive)];
  return hash(domain, be64(leaves), ...committed, acc);
}

/**
 * The grafted MMR root a single-operation range proof leads to, or `null`. The digests are
 * laid out as: the fold of the inactive peaks before the operation (if any), the other peaks
 * before it, the inactive peaks after it, the backward fold of the active peaks after it (if
 * any), then the siblings along the operation's path.
 */
function graftedRoot(proof, operation) {
  const { loc, leaves, digests } = proof;
  const peaks = mmrPeaks(leaves);
  const before = peaks.filter((p) => leafEnd(p) <= loc);
  const after = peaks.filter((p) => p.leafStart > loc);
  const holding = peaks.filter((p) => p.leafStart <= loc && loc < leafEnd(p));
  if (proof.inactivePeaks > BigInt(peaks.length)) return null;
  const inactive = Number(proof.inactivePeaks);
  const folded = Math.min(inactive, before.length);
  const listedAfter = Math.min(
    Math.max(inactive - before.length - holding.length, 0),
    after.length,
  );
  const foldsAfter = listedAfter < after.length;
  const pathLength = holding[0].height;
  const layout =
    (folded > 0 ? 1 : 0) + (before.length - folded) + listedAfter + (foldsAfter ? 1 : 0);
  if (digests.length !== layout + pathLength) return null;
  const head = digests.slice(0, layout - listedAfter - (foldsAfter ? 1 : 0));
  const tail = digests.slice(head.length, layout);
  const siblings = digests.slice(layout);
  const peak = rebuildSubtree(holding[0], loc, operation, proof.chunk, siblings);
  const fold = folded > 0 ? inactive - folded + 1 : inactive;
  return bagPeaks(leaves, fold, inactive, [...head, peak, ...tail]);
}

/** Whether the operation proof shows `operation` active under the state root `root`. */
function operationVerifies(proof, operation, root) {
  const bit = Number(proof.loc % CHUNK_BITS);
  if ((proof.chunk[bit >> 3] & (1 << (bit & 7))) === 0) return false; // inactive
  if (proof.loc >= proof.leaves) return false;
  // In an MMR every complete chunk is grafted; a trailing partial chunk is hashed into the
  // root by its digest, which must be the proof's chunk's when the operation is in it.
  const nextBit = proof.leaves % CHUNK_BITS;
  if ((nextBit !== 0n) !== (proof.partialDigest !== null)) return false;
  const inPartial = proof.loc / CHUNK_BITS === proof.leaves / CHUNK_BITS;
  if (nextBit !== 0n && inPartial && !equalBytes(proof.partialDigest, sha256(proof.chunk))) {
    return false;
  }
  const grafted = graftedRoot(proof, operation);
  if (grafted === null) return false;
  const partial = nextBit === 0n ? [] : [be64(nextBit), proof.partialDigest];
  return equalBytes(hash(proof.opsRoot, grafted, ...partial), root);
}

/** Whether a decoded proof shows `key` holding `value` (or nothing, if `null`) under `root`. */
function proves({ proof, nextKey, update, metadata }, key, value, root) {
  if (value !== null) return operationVerifies(proof, updateOperation(key, value, nextKey), root);
  if (update) {
    const excludes =
      !equalBytes(update.key, key) && containsCyclic(update.key, update.nextKey, key);
    return (
      excludes &&
      operationVerifies(proof, updateOperation(update.key, update.value, update.nextKey), root)
    );
  }
  // An empty database: its last commit's floor is the commit itself.
  return operationVerifies(proof, commitOperation(metadata, proof.loc), root);
}

/** `StateProof::verify`: checks that `key` holds `value` (or nothing, if `null`) under `root`. */
function verifyStateProof(stateProof, key, value, root) {
  const bad = (reason) => fail('bad-proof', `the state proof does not verify: ${reason}`);
  if ((stateProof.kind === 'inclusion') !== (value !== null)) {
    bad('proof kind does not match the claimed value');
  }
  let decoded;
  try {
    decoded =
      value !== null ? decodeInclusion(stateProof.proof) : decodeExclusion(stateProof.proof);
  } catch (e) {
    if (e instanceof DecodeError) bad('proof does not decode');
    throw e;
  }
  if (!proves(decoded, key, value, root)) bad('proof does not verify against the state root');
}

// ── Machina values ───────────────────────────────────────────────────────────────────────
//
// Stored values in their canonical encodings (`crates/types`), decoded into the JSON the node
// serializes them as (u64 fields as BigInt, compared with JSON numbers by `sameJson`).

const NAME_LEN_MAX = 64;
const DEVICE_KEYS_REMEMBERED = 8;
const ATTRIBUTES_PER_DEVICE_MAX = 16;
const ATTRIBUTE_KEY_LEN_MAX = 32;
const ATTRIBUTE_VALUE_LEN_MAX = 128;
const DEVICE_STATUS = ['active', 'suspended', 'decommissioned'];

const hex32 = (r) => toHex(r.take(32));

/** `bank::state::Account`: nonce, balance (u64 each). */
function readAccount(r) {
  return { nonce: r.u64(), balance: r.u64() };
}

/** `data::state::AnchorRecord`: an anchored batch of a stream's readings. */
function readAnchor(r) {
  return {
    device: hex32(r),
    stream: r.u32(),
    index: r.u64(),
    first_seq: r.u64(),
    last_seq: r.u64(),
    count: r.u32(),
    root: hex32(r),
    device_key: hex32(r),
    height: r.u64(),
    timestamp_ms: r.u64(),
    submitter: hex32(r),
  };
}

/** `identity::state::Maker`: account, name, maker key, bond, slashed, devices. */
function readMaker(r) {
  return {
    account: hex32(r),
    name: r.string(NAME_LEN_MAX),
    maker_key: hex32(r),
    bond: r.u64(),
    slashed: r.u64(),
    devices: r.u64(),
  };
}

/** `DeviceCertificate`: the body (maker, device key, model, serial hash), then the signature. */
function readCertificate(r) {
  return {
    maker: hex32(r),
    device_key: hex32(r),
    model: r.string(NAME_LEN_MAX),
    serial_hash: hex32(r),
    signature: toHex(r.take(64)),
  };
}

/** The encoding of a certificate's body, which the maker key signs. */
function certificateBody(certificate) {
  const model = utf8.encode(certificate.model);
  const { maker, device_key: deviceKey, serial_hash: serial } = certificate;
  return concat(
    parseHex(maker),
    parseHex(deviceKey),
    varint(model.length),
    model,
    parseHex(serial),
  );
}

function readDeviceStatus(r) {
  const status = DEVICE_STATUS[r.u8()];
  if (!status) throw new DecodeError('unknown device status');
  return status;
}

/** `identity::state::Device`: id, owner, certificate, keys, firmware, attributes, status... */
function readDevice(r) {
  return {
    id: hex32(r),
    owner: hex32(r),
    certificate: readCertificate(r),
    keys: r.vector(DEVICE_KEYS_REMEMBERED, () => hex32(r)),
    key_epoch: r.u64(),
    firmware: r.option(() => hex32(r)),
    attributes: r.vector(ATTRIBUTES_PER_DEVICE_MAX, () => ({
      key: r.string(ATTRIBUTE_KEY_LEN_MAX),
      value: r.string(ATTRIBUTE_VALUE_LEN_MAX),
    })),
    status: readDeviceStatus(r),
    reputation: { good: r.u64(), bad: r.u64() },
    registered_height: r.u64(),
    ownership: r.u64(),
  };
}

// ── Keys and descriptions ────────────────────────────────────────────────────────────────
//
// A state key is the SHA-256 of a module's structured key: its description's prefix (e.g.
// `bank/account/`) then each part in binary (an address or id as 32 bytes, a number as a
// big-endian u64 or u32). A bundle names its key with a description; the verifier recomputes
// the key from it, as `describe::known` does for these kinds, and for the first four also
// decodes the value itself. For the others only an absent value's (null) decoding is checked.

const hash32 = parseHash;
const uint32 = (text) => (parseUint(text, 32) === null ? null : be32(Number(parseUint(text, 32))));
const uint64 = (text) => (parseUint(text, 64) === null ? null : be64(parseUint(text, 64)));

const DESCRIBED = [
  ['bank/account', [hash32], readAccount],
  ['identity/device', [hash32], readDevice],
  ['identity/maker', [hash32], readMaker],
  ['data/anchor', [hash32, uint32, uint64], readAnchor],
  ['data/feed', [uint64]],
  ['market/lease', [uint64]],
  ['rewards/pool', [uint64]],
  ['rewards/enrollment', [uint64, hash32]],
  ['rewards/epoch', [uint64, uint32]],
  ['rewards/work', [uint64, uint32, hash32]],
  ['channels/channel', [uint64]],
  ['products/product', [uint64]],
  ['products/subscription', [uint64]],
  ['wallets/policy', [hash32]],
  ['wallets/session', [hash32, hash32]],
  ['wallets/multisig', [hash32]],
  ['wallets/proposal', [hash32, uint64]],
];

/** The key a description names and its value's reader (if any), or `null` if unknown. */
function describedKey(description) {
  for (const [name, parse, read = null] of DESCRIBED) {
    if (!description.startsWith(`${name}/`)) continue;
    const parts = description.slice(name.length + 1).split('/');
    if (parts.length !== parse.length) return null;
    const encoded = parts.map((part, i) => parse[i](part));
    if (encoded.includes(null)) return null;
    return { key: hash(utf8.encode(`${name}/`), ...encoded), read };
  }
  return null;
}

/** JSON equality, where `expected` may hold BigInts (u64s) that JSON holds as numbers. */
function sameJson(expected, actual) {
  if (typeof expected === 'bigint') {
    return typeof actual === 'number' && actual === Number(expected);
  }
  if (expected === null || typeof expected !== 'object') return expected === actual;
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((e, i) => sameJson(e, actual[i]))
    );
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const keys = Object.keys(expected);
  return (
    Object.keys(actual).length === keys.length &&
    keys.every((k) => Object.hasOwn(actual, k) && sameJson(expected[k], actual[k]))
  );
}

/** A JSON value for display: BigInts become numbers. */
function plain(value) {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

// ── Bundle fields ────────────────────────────────────────────────────────────────────────

function malformedBundle(what) {
  fail('malformed', `malformed bundle: ${what}`);
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringField(obj, name) {
  if (typeof obj[name] !== 'string') malformedBundle(`${name} must be a string`);
  return obj[name];
}

function uintField(obj, name, max) {
  const v = obj[name];
  if (!Number.isInteger(v) || v < 0 || v > max) {
    malformedBundle(`${name} must be an integer from 0 to ${max}`);
  }
  return v;
}

function hashField(obj, name) {
  return parseHash(obj[name]) ?? malformedBundle(`${name} must be 32 bytes of hex`);
}

/** The fields every bundle has: chain, height, header and certificate. */
function readCommon(bundle) {
  if (!isObject(bundle)) malformedBundle('not an object');
  return {
    chain_id: stringField(bundle, 'chain_id'),
    height: uintField(bundle, 'height', Number.MAX_SAFE_INTEGER),
    header: stringField(bundle, 'header'),
    finalization: stringField(bundle, 'finalization'),
  };
}

/** A `StateEntry`: key, description, value (hex or null), decoded value, proof. */
function readEntry(raw, label) {
  if (!isObject(raw)) malformedBundle(`${label} must be an object`);
  const description = raw.description ?? null;
  if (description !== null && typeof description !== 'string') {
    malformedBundle(`${label} description must be a string or null`);
  }
  if (raw.value === undefined) malformedBundle(`${label} value is missing`);
  const value =
    raw.value === null
      ? null
      : (parseHex(raw.value) ?? malformedBundle(`${label} value must be hex or null`));
  const proof = raw.proof;
  if (!isObject(proof) || (proof.kind !== 'inclusion' && proof.kind !== 'exclusion')) {
    malformedBundle(`${label} proof must be an inclusion or exclusion proof`);
  }
  const bytes = parseHex(proof.proof) ?? malformedBundle(`${label} proof must be hex`);
  return {
    key: hashField(raw, 'key'),
    description,
    value,
    decoded: raw.decoded ?? null,
    proof: { kind: proof.kind, proof: bytes },
  };
}

/** A reading's `merkle::Proof`: index and count (u32) and the sibling hashes. */
function readMerklePath(raw) {
  if (!isObject(raw) || !Array.isArray(raw.siblings)) {
    malformedBundle('merkle must hold index, count and siblings');
  }
  return {
    index: uintField(raw, 'index', 0xffffffff),
    count: uintField(raw, 'count', 0xffffffff),
    siblings: raw.siblings.map(
      (s) => parseHash(s) ?? malformedBundle('merkle siblings must be 32 bytes of hex'),
    ),
  };
}

// ── Entries ──────────────────────────────────────────────────────────────────────────────

/**
 * `verify_entry`: the key and decoded value against the description, then the proof against
 * `root`. Returns the decoded value (`null` if absent or not decodable here), whether the key
 * was recomputed from the description and whether the decoded value was checked.
 */
function verifyEntry(entry, root) {
  const known = entry.description === null ? null : describedKey(entry.description);
  if (known && !equalBytes(known.key, entry.key)) {
    fail('key-mismatch', 'the key does not match its description');
  }
  const decodable = Boolean(known?.read) && entry.value !== null;
  const decoded = decodable ? decodeAll(entry.value, 'value', known.read) : null;
  // Without a description nothing decodes; a described kind decodes to the value's JSON (or
  // null if absent). A description unknown here may be a kind this page does not know yet.
  const decodedChecked =
    entry.description === null || decodable || (known !== null && entry.value === null);
  const decodedMatches =
    decoded === null ? entry.decoded === null : sameJson(decoded, entry.decoded);
  if (decodedChecked && !decodedMatches) {
    fail('decoded-mismatch', 'the decoded value does not match the value');
  }
  verifyStateProof(entry.proof, entry.key, entry.value, root);
  return { decoded, descriptionChecked: known !== null, decodedChecked };
}

/** `present`: an entry the reading proof needs, under its expected description. */
function present(entry, root, description, what) {
  try {
    if (entry.description !== description) {
      fail('key-mismatch', 'the key does not match its description');
    }
    const { decoded } = verifyEntry(entry, root);
    if (decoded === null) fail('absent', `the ${what} is not in the state`);
    return decoded;
  } catch (e) {
    if (e instanceof VerifyError) e.message += ` (${what} entry)`;
    throw e;
  }
}

// ── Readings ─────────────────────────────────────────────────────────────────────────────

const READING_NAMESPACE = utf8.encode('machina/reading/v1');
const CERTIFICATE_NAMESPACE = utf8.encode('machina/device-certificate/v1');
const UNIT_LEN_MAX = 16;
const READING_BYTES_MAX = 256;
const DECIMALS_MAX = 18;
const TAG_BYTES = 16;
const SEALED_BYTES_MAX = 1 + 3 + READING_BYTES_MAX + TAG_BYTES;
const SIGNED_READING_SIZE_MAX = 32 + 4 + 8 + 8 + 1 + 4 + 24 + 5 + SEALED_BYTES_MAX + 64;
const SEQ_MAX = 1n << 62n;

/** A reading's value: tag 0 numeric (i64, decimals, unit), 1 bytes, 2 sealed. */
function readReadingValue(r) {
  switch (r.u8()) {
    case 0:
      return { type: 'numeric', value: r.i64(), decimals: r.u8(), unit: r.string(UNIT_LEN_MAX) };
    case 1:
      return { type: 'bytes', bytes: toHex(r.byteString(READING_BYTES_MAX)) };
    case 2:
      return {
        type: 'sealed',
        epoch: r.u32(),
        nonce: toHex(r.take(24)),
        ciphertext: toHex(r.byteString(SEALED_BYTES_MAX)),
      };
    default:
      throw new DecodeError('unknown value type');
  }
}

/** `SignedReading::decode_checked`: the reading (device, stream, seq, time, value), signature. */
function decodeSignedReading(bytes) {
  if (bytes.length > SIGNED_READING_SIZE_MAX) fail('malformed', 'malformed reading: too long');
  const reading = decodeAll(bytes, 'reading', (r) => ({
    device: hex32(r),
    stream: r.u32(),
    seq: r.u64(),
    timestamp_ms: r.u64(),
    value: readReadingValue(r),
    signature: toHex(r.take(64)),
  }));
  const { value } = reading;
  const valid =
    reading.seq <= SEQ_MAX &&
    (value.type !== 'numeric' || value.decimals <= DECIMALS_MAX) &&
    (value.type !== 'sealed' || value.ciphertext.length / 2 >= TAG_BYTES);
  if (!valid) fail('malformed', 'malformed reading: out of bounds');
  return reading;
}

/** The root a reading's Merkle path leads to (`merkle::Proof::root`), or `null`. */
function merkleRoot(path, leaf) {
  if (path.index >= path.count) return null;
  const siblings = [...path.siblings];
  let acc = leaf;
  for (
    let i = path.index, len = path.count;
    len > 1;
    i = Math.floor(i / 2), len = Math.ceil(len / 2)
  ) {
    if ((i % 2 === 0 ? i + 1 : i - 1) >= len) continue; // no sibling at this level
    const s = siblings.shift();
    if (!s) return null;
    acc = i % 2 === 0 ? hash([1], acc, s) : hash([1], s, acc);
  }
  return siblings.length === 0 ? acc : null;
}

// ── Public API ───────────────────────────────────────────────────────────────────────────

/**
 * Verifies a `ProofBundle` (`crates/store/src/bundle.rs`) against `genesis` (the genesis
 * JSON document). Returns what it proves. `descriptionChecked` tells whether the key was
 * recomputed from the description (else what the key is, is the node's word);
 * `decodedChecked` whether the bundle's `decoded` value was checked against the value (for
 * accounts, devices, makers and anchors; else the raw value is proven, its decoding is the
 * node's word). Throws a `VerifyError` if the bundle does not verify.
 */
export async function verifyStateBundle(bundle, genesis) {
  const common = readCommon(bundle);
  const entry = readEntry(bundle, 'bundle');
  const header = verifyFinalized(common, genesis);
  const { descriptionChecked, decodedChecked } = verifyEntry(entry, header.stateRoot);
  return {
    chainId: common.chain_id,
    height: Number(header.height),
    block: toHex(header.block),
    stateRoot: toHex(header.stateRoot),
    key: toHex(entry.key),
    value: entry.value === null ? null : toHex(entry.value),
    description: entry.description,
    descriptionChecked,
    decodedChecked,
  };
}

/**
 * Verifies a `ReadingBundle` end to end against `genesis`, as `verify_reading` does: the
 * certificate and header, the reading against its decoded form, the anchor covering it, the
 * Merkle path to the anchored root, the device key's signature, the device (whose certificate
 * the maker key signed) and the maker. Throws a `VerifyError` if any of it fails.
 */
export async function verifyReadingBundle(bundle, genesis) {
  const common = readCommon(bundle);
  const readingHex = stringField(bundle, 'reading');
  if (bundle.decoded === undefined) malformedBundle('decoded is missing');
  const path = readMerklePath(bundle.merkle);
  const entries = ['anchor', 'device', 'maker'].map((name) => readEntry(bundle[name], name));
  const [anchorEntry, deviceEntry, makerEntry] = entries;
  const { height, block, stateRoot } = verifyFinalized(common, genesis);

  const readingBytes = parseHex(readingHex) ?? fail('malformed', 'malformed reading: not hex');
  const reading = decodeSignedReading(readingBytes);
  if (!sameJson(reading, bundle.decoded)) {
    fail('decoded-mismatch', 'the decoded value does not match the value');
  }

  // The anchor's index comes from its decoded form; its description (so its key) and the
  // decoded form are then checked against it.
  const index = anchorEntry.decoded?.index;
  if (!Number.isInteger(index) || index < 0) fail('malformed', 'malformed anchor: no index');
  const anchor = present(
    anchorEntry,
    stateRoot,
    `data/anchor/${reading.device}/${reading.stream}/${BigInt(index)}`,
    'anchor',
  );
  const covered =
    anchor.device === reading.device &&
    anchor.stream === reading.stream &&
    reading.seq >= anchor.first_seq &&
    reading.seq <= anchor.last_seq;
  if (!covered) fail('not-covered', 'the reading is not covered by the anchor');
  const leaf = hash([0], readingBytes);
  const root = path.count === anchor.count ? merkleRoot(path, leaf) : null;
  if (root === null || toHex(root) !== anchor.root) {
    fail('bad-merkle', "the reading's Merkle path does not lead to the anchored root");
  }
  const deviceKey = parseHex(anchor.device_key);
  const body = readingBytes.subarray(0, readingBytes.length - 64);
  const signature = readingBytes.subarray(readingBytes.length - 64);
  if (!isStrongKey(deviceKey) || !verifySignature(deviceKey, READING_NAMESPACE, body, signature)) {
    fail('bad-reading-signature', "the reading's signature does not verify with the device key");
  }

  const { certificate } = present(
    deviceEntry,
    stateRoot,
    `identity/device/${reading.device}`,
    'device',
  );
  const maker = present(makerEntry, stateRoot, `identity/maker/${certificate.maker}`, 'maker');
  const makerKey = parseHex(maker.maker_key);
  const certifiedId = hash(
    utf8.encode('machina/device/'),
    parseHex(certificate.maker),
    parseHex(certificate.serial_hash),
  );
  const certified =
    isStrongKey(makerKey) &&
    verifySignature(
      makerKey,
      CERTIFICATE_NAMESPACE,
      certificateBody(certificate),
      parseHex(certificate.signature),
    ) &&
    toHex(certifiedId) === reading.device;
  if (!certified) {
    fail('bad-maker-certificate', 'the device certificate is not signed by the maker key');
  }

  const { signature: _, ...shown } = reading;
  return {
    height: Number(height),
    block: toHex(block),
    reading: plain(shown),
    anchor: Number(anchor.index),
    anchoredAt: Number(anchor.height),
    maker: { account: maker.account, name: maker.name },
  };
}
