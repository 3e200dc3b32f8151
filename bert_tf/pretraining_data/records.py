"""Feature arrays -> the original's `tf.train.Example` records in TFRecord framing, encoded with NumPy.

Both wire formats are small. A TFRecord is `uint64 length, uint32 masked CRC32C(length), data, uint32 masked
CRC32C(data)`, little-endian. An Example is `features {feature {key, value}}` where each value is an
`Int64List` (packed varints) or a `FloatList` (packed float32). Thousands of records are built at once: each
part is laid out in a padded block with a keep mask, one boolean compaction joins them, and CRC32C runs over
all records in parallel, four bytes per step. No TensorFlow (tests parse the output with it).
"""

from __future__ import annotations

import functools
import os

import numpy as np

# (name, is_float) in the original's order (docs/ORIGINAL.md §2.5).
FEATURES = (
    ("input_ids", False), ("input_mask", False), ("segment_ids", False), ("masked_lm_positions", False),
    ("masked_lm_ids", False), ("masked_lm_weights", True), ("next_sentence_labels", False),
)

_CRC32C_POLY = 0x82F63B78  # Castagnoli, bit-reflected
_MASK_DELTA = 0xA282EAD8  # TFRecord's CRC masking constant


@functools.cache
def _byte_table():
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC32C_POLY), table >> 1).astype(np.uint32)
    return table


@functools.cache
def _word_tables():
    """x -> the register after 4 zero bytes from x is linear in x: two 16-bit tables cover a 32-bit step."""
    table = _byte_table()

    def four_zero_bytes(state):
        for _ in range(4):
            state = table[state & 0xFF] ^ (state >> 8)
        return state

    halves = np.arange(1 << 16, dtype=np.uint32)
    return four_zero_bytes(halves), four_zero_bytes(halves << 16)


@functools.cache
def _initial_states(most_zeros):
    """States s[z], z = 0..most_zeros: the register that z zero bytes turn into 0xFFFFFFFF (CRC32C's start).

    Data preceded by z zeros and started from s[z] gets its true CRC, so rows of different lengths can be
    right-justified and run through the same steps. One zero-byte step is invertible (the table's top bytes
    are all different), which gives s[z + 1] from s[z].
    """
    table = _byte_table()
    index_of_top = np.empty(256, np.int64)
    index_of_top[table >> 24] = np.arange(256)
    assert len(np.unique(table >> 24)) == 256, "CRC32C table top bytes must be a permutation"
    states = [0xFFFFFFFF]
    for _ in range(most_zeros):
        index = int(index_of_top[states[-1] >> 24])
        states.append((((states[-1] ^ int(table[index])) << 8) | index) & 0xFFFFFFFF)
    return np.array(states, np.uint32)


def crc32c(data: bytes) -> int:
    """CRC32C of `data`, one byte at a time: the plain reference the vectorised version is tested against."""
    table = _byte_table().tolist()
    state = 0xFFFFFFFF
    for byte in data:
        state = table[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state ^ 0xFFFFFFFF


def mask_crc(crc):
    """TFRecord's masked CRC: rotate right by 15 bits, add a constant (uint32 arrays or ints)."""
    if isinstance(crc, int):
        return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
    return ((crc >> 15) | (crc << 17)) + np.uint32(_MASK_DELTA)


def crc32c_right_justified(rows, lengths):
    """CRC32C of each row's last `lengths[r]` bytes; `rows` is uint8 [R, W] with W % 4 == 0, zeros before."""
    count, width = rows.shape
    low, high = _word_tables()
    state = _initial_states(width)[width - np.asarray(lengths, np.int64)]
    words = np.ascontiguousarray(rows.view("<u4").T)  # [W / 4, R]; a uint32 holds bytes in stream order
    for column in words:
        x = state ^ column
        state = low[x & 0xFFFF] ^ high[x >> 16]
    return state ^ np.uint32(0xFFFFFFFF)


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@functools.cache
def _varint_table():
    """Packed varints of 0 .. 2**16 - 1, three bytes each with zeros after the last: uint8 [2**16, 3]."""
    values = np.arange(1 << 16, dtype=np.uint32)
    planes = np.zeros((len(values), 3), np.uint8)
    for k in range(3):
        planes[:, k] = (values >> (7 * k)) & 0x7F
        planes[:, k] |= ((values >> (7 * (k + 1))) > 0).astype(np.uint8) << 7
        planes[:, k][(values >> (7 * k)) == 0] = 0  # past the last byte
    return planes


def _varint_block(values):
    """Packed varints of each row of a non-negative int array [R, N] -> (block [R, N * B], keep mask or None
    when every byte is kept, kept bytes per row)."""
    values = np.asarray(values)
    rows, width = values.shape
    if values.size and values.min() < 0:
        raise ValueError(f"negative feature value {values.min()} (the writer packs non-negative ids only)")
    top = int(values.max(initial=0))
    if top < 0x80:  # one byte each
        return values.astype(np.uint8), None, np.full(rows, width, np.int64)
    if top < 1 << 16:  # vocab ids: a table lookup (np.take: much faster than fancy indexing for 2-D rows)
        planes = np.take(_varint_table(), values.reshape(-1), axis=0).reshape(rows, width * 3)
        # Only a varint's first byte can be 0 (for the value 0): continuation bytes have the top bit set, and
        # the last byte of a longer varint holds the value's nonzero top bits.
        keep = planes != 0
        keep[:, ::3] = True
        return planes, keep, keep.sum(axis=1, dtype=np.int64)
    most = (top.bit_length() + 6) // 7  # bytes of the largest value
    values = values.astype(np.uint32 if top < 1 << 32 else np.uint64)
    sizes = np.ones(values.shape, np.uint8)
    for k in range(1, most):
        sizes += values >= (1 << 7 * k)
    planes = np.empty(values.shape + (most,), np.uint8)
    for k in range(most):
        planes[..., k] = ((values >> (7 * k)).astype(np.uint8) & 0x7F) | ((sizes > k + 1).view(np.uint8) << 7)
    keep = np.arange(most) < sizes[..., None]
    return planes.reshape(rows, -1), keep.reshape(rows, -1), sizes.sum(axis=1, dtype=np.int64)


def _lookup_block(pieces, keys):
    """Block whose row r holds the bytes `pieces[keys[r]]` (a short list of bytes): (block, keep, lengths)."""
    lengths = np.array([len(p) for p in pieces], np.int64)
    table = np.zeros((len(pieces), int(lengths.max(initial=0))), np.uint8)
    for k, piece in enumerate(pieces):
        table[k, :len(piece)] = np.frombuffer(piece, np.uint8)
    if len(pieces) == 1:  # every row the same: no mask needed
        return np.broadcast_to(table, (len(keys), table.shape[1])), None, np.full(len(keys), lengths[0])
    return table[keys], np.arange(table.shape[1]) < lengths[keys][:, None], lengths[keys]


def _feature_header(name: str, is_float: bool, payload_length: int) -> bytes:
    """Map-entry bytes before a feature's packed payload: entry{key, value: Feature{list{packed value}}}."""
    key = name.encode()
    packed = b"\x0a" + _varint_bytes(payload_length)  # field 1 (value), length-delimited
    list_length = len(packed) + payload_length
    feature = (b"\x12" if is_float else b"\x1a") + _varint_bytes(list_length)  # float_list=2 / int64_list=3
    feature_length = len(feature) + list_length
    key_field = b"\x0a" + _varint_bytes(len(key)) + key
    value_field = b"\x12" + _varint_bytes(feature_length)
    entry_length = len(key_field) + len(value_field) + feature_length
    return b"\x0a" + _varint_bytes(entry_length) + key_field + value_field + feature + packed


def _lookup_by_length(make_piece, lengths):
    """`_lookup_block` of `make_piece(n)` for each row's length n (few distinct lengths, built once each)."""
    unique, inverse = np.unique(lengths, return_inverse=True)
    return _lookup_block([make_piece(int(n)) for n in unique], inverse.ravel())


def _example_blocks(features):
    """(block, keep or None, lengths) triples whose kept bytes, row by row, are each row's serialized Example."""
    blocks = []
    for name, is_float in FEATURES:
        values = np.asarray(features[name])
        if is_float:
            payload = np.ascontiguousarray(values, "<f4").view(np.uint8)
            payload = payload, None, np.full(len(payload), payload.shape[1], np.int64)
        else:
            payload = _varint_block(values)
        blocks += [_lookup_by_length(functools.partial(_feature_header, name, is_float), payload[2]), payload]
    # Example{features (field 1): Features{the map entries above}}.
    body_lengths = sum(lengths for _, _, lengths in blocks)
    return [_lookup_by_length(lambda n: b"\x0a" + _varint_bytes(n), body_lengths), *blocks]


def _join(blocks):
    """Concatenates (block, keep, lengths) triples along rows and keeps the kept bytes -> flat bytes, in row
    order."""
    block = np.concatenate([b for b, _, _ in blocks], axis=1)
    keep = np.concatenate([np.ones(b.shape, bool) if k is None else k for b, k, _ in blocks], axis=1)
    return block[keep]


def encode_records(features):
    """TFRecord-framed `tf.train.Example`s, one per row of the feature arrays -> (bytes, bytes per record).

    Args:
      features: name -> array [R, width] for every name of FEATURES (ints >= 0; masked_lm_weights float).
    """
    blocks = _example_blocks(features)
    lengths = sum(lengths for _, _, lengths in blocks)
    count = len(lengths)
    width = -(-int(lengths.max(initial=0) + 12) // 4) * 4 + 4
    framed_lengths = lengths + 16
    # Each row: zeros, 12 zero bytes for the header, the Example, 4 bytes for its CRC, so every row keeps exactly
    # `width` bytes and comes out right-justified; the zeros before the Example do not change its CRC.
    filler_width = width - int(framed_lengths.min(initial=width))  # the most zeros any row needs
    filler = (np.zeros((count, filler_width), np.uint8),
              np.arange(filler_width) < (width - framed_lengths)[:, None], None)
    header, trailer = (np.zeros((count, 12), np.uint8), None, 12), (np.zeros((count, 4), np.uint8), None, 4)
    rows = _join([filler, header, *blocks, trailer]).reshape(count, width)
    data_crc = mask_crc(crc32c_right_justified(rows[:, :width - 4], lengths))
    length_bytes = lengths.astype("<u8").view(np.uint8).reshape(count, 8)
    length_crc = mask_crc(crc32c_right_justified(length_bytes, np.full(count, 8)))
    header = np.concatenate([length_bytes, length_crc.astype("<u4").view(np.uint8).reshape(count, 4)], axis=1)
    rows[np.arange(count)[:, None], (width - framed_lengths)[:, None] + np.arange(12)] = header
    rows[:, width - 4:] = data_crc.astype("<u4").view(np.uint8).reshape(count, 4)
    return rows[np.arange(width) >= (width - framed_lengths)[:, None]], framed_lengths


def check_framing(path):
    """Walks the record headers of a TFRecord file (12 bytes per record; the data is skipped, not read) and raises
    ValueError naming the file, record and byte where it stops being one: a header whose CRC does not match (not
    a TFRecord file, or damaged) or a record running past the end (truncated). TensorFlow's reader would say only
    "corrupted record at <byte>", without the file, and only once training reached it. Returns the record count."""
    size, offset, index = os.path.getsize(path), 0, 0
    with open(path, "rb") as reader:
        while offset < size:
            header = reader.read(12)
            where = f"{path}: record {index} at byte {offset}"
            if len(header) < 12:
                raise ValueError(f"{where}: truncated (the file ends inside the record's header)")
            if mask_crc(crc32c(header[:8])) != int.from_bytes(header[8:], "little"):
                raise ValueError(f"{where}: not a TFRecord header (damaged, or not a TFRecord file)")
            offset += 16 + int.from_bytes(header[:8], "little")
            if offset > size:
                raise ValueError(f"{where}: truncated (the record needs {offset - size} bytes more than the file has)")
            reader.seek(offset)
            index += 1
    return index


def read_tfrecords(path):
    """The records of a TFRecord file, every CRC checked (no TensorFlow; for tests and benchmarks).

    Raises:
      ValueError: naming the file and byte offset of a truncated or corrupt record.
    """
    with open(path, "rb") as reader:
        data = reader.read()
    records, offsets = [], []
    offset = 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little") if offset + 12 <= len(data) else -1
        if length < 0 or offset + 16 + length > len(data):
            raise ValueError(f"{path}: truncated record at byte {offset}")
        header_crc = int.from_bytes(data[offset + 8:offset + 12], "little")
        data_crc = int.from_bytes(data[offset + 12 + length:offset + 16 + length], "little")
        records.append((data[offset:offset + 8], header_crc, data[offset + 12:offset + 12 + length], data_crc))
        offsets.append(offset)
        offset += 16 + length
    for part, crc_index in ((0, 1), (2, 3)):
        pieces = [record[part] for record in records]
        lengths = np.array([len(p) for p in pieces], np.int64)
        width = -(-int(lengths.max(initial=0)) // 4) * 4
        rows = np.zeros((len(pieces), width), np.uint8)
        for r, piece in enumerate(pieces):
            rows[r, width - len(piece):] = np.frombuffer(piece, np.uint8)
        stored = np.array([record[crc_index] for record in records], np.uint32)
        bad = np.flatnonzero(mask_crc(crc32c_right_justified(rows, lengths)) != stored)
        if len(bad):
            raise ValueError(f"{path}: CRC mismatch in record at byte {offsets[bad[0]]}")
    return [record[2] for record in records]
