"""hub.framing: the reusable stream decoders, on real frame layouts and random garbage.

Property tests: valid frames interleaved with random garbage (including sync
bytes and corrupted frames) are all recovered, and feeding the same stream in
arbitrary chunks gives the same frames and counters as feeding it at once.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hub.framing import (
    DelimiterDecoder,
    FixedFrameDecoder,
    FrameDecoder,
    LengthPrefixedDecoder,
    sum8_valid,
)

# Benewake TF-Luna 9-byte/cm frames, from shared/samples/tfmini_frames.hex (computed from
# the manual, checksums verified): 59 59 Dist_L Dist_H Amp_L Amp_H Temp_L Temp_H Checksum.
TF_OK_123CM = bytes.fromhex("59 59 7B 00 5E 01 C8 08 5C")
TF_OK_800CM = bytes.fromhex("59 59 20 03 98 08 F8 08 75")
TF_LOW_SIGNAL = bytes.fromhex("59 59 00 00 2D 00 A0 08 87")  # checksum fine, amp < 100
TF_OVEREXPOSED = bytes.fromhex("59 59 1E 00 FF FF B0 08 86")  # checksum fine, amp 65535
TF_BAD_CHECKSUM = bytes.fromhex("59 59 7B 00 5E 01 C8 08 5D")
TF_STRAY_59 = bytes.fromhex("59 59 59 7B 00 5E 01 C8 08 5C")  # a stray 0x59, then a frame
TF_DIST_5959 = bytes.fromhex("59 59 59 59 5E 01 C8 08 93")  # header bytes in the payload
TF_SAMPLE_STREAM = (
    TF_OK_123CM
    + TF_OK_800CM
    + TF_LOW_SIGNAL
    + TF_OVEREXPOSED
    + TF_BAD_CHECKSUM
    + TF_STRAY_59
    + TF_DIST_5959
)
SYNC = b"\x59\x59"


def tf_luna() -> FixedFrameDecoder:
    return FixedFrameDecoder(SYNC, 9, sum8_valid)


def fed_bytes_accounted(
    decoder: FrameDecoder, frames: Sequence[bytes], fed: int, extra: int = 0
) -> bool:
    """Every byte fed is in a returned frame (plus ``extra`` per frame), discarded or buffered."""
    framed = sum(len(f) + extra for f in frames)
    return framed + decoder.discarded_bytes + decoder.buffered == fed


def feed_chunks(decoder: FrameDecoder, stream: bytes, cuts: Sequence[int]) -> list[bytes]:
    out: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        out += decoder.feed(stream[start:cut])
        start = cut
    return out


# -- sum8 and the TF-Luna samples ---------------------------------------------------------


def test_sum8_valid_accepts_the_sample_frames_and_rejects_a_wrong_checksum() -> None:
    for frame in (TF_OK_123CM, TF_OK_800CM, TF_LOW_SIGNAL, TF_OVEREXPOSED, TF_DIST_5959):
        assert sum8_valid(frame), frame.hex(" ")
    assert not sum8_valid(TF_BAD_CHECKSUM)
    assert not sum8_valid(TF_STRAY_59[:9])
    assert not sum8_valid(b"\x59")


def test_tf_luna_sample_stream_resyncs_byte_by_byte() -> None:
    decoder = tf_luna()
    frames = decoder.feed(TF_SAMPLE_STREAM)
    # the bad-checksum frame is dropped; the stray 0x59 costs one byte; a payload holding
    # 59 59 does not fool the decoder into starting a frame there
    assert frames == [
        TF_OK_123CM,
        TF_OK_800CM,
        TF_LOW_SIGNAL,
        TF_OVEREXPOSED,
        TF_STRAY_59[1:],
        TF_DIST_5959,
    ]
    assert decoder.frames == 6
    assert decoder.bad_frames == 2  # the bad checksum, the window starting at the stray 0x59
    assert decoder.discarded_bytes == len(TF_BAD_CHECKSUM) + 1
    assert decoder.buffered == 0


def test_tf_luna_one_byte_at_a_time_gives_the_same_frames() -> None:
    whole = tf_luna().feed(TF_SAMPLE_STREAM)
    decoder = tf_luna()
    frames = [
        f for i in range(len(TF_SAMPLE_STREAM)) for f in decoder.feed(TF_SAMPLE_STREAM[i : i + 1])
    ]
    assert frames == whole


def test_a_frame_inside_a_rejected_candidate_is_found() -> None:
    # 59 59 | 59 59 7B ...: the first window fails its checksum, the real frame starts 2 later
    decoder = tf_luna()
    assert decoder.feed(SYNC + TF_OK_123CM) == [TF_OK_123CM]
    assert decoder.bad_frames >= 1


def test_garbage_without_sync_is_discarded_but_a_partial_sync_is_kept() -> None:
    decoder = tf_luna()
    assert decoder.feed(b"\x00\x01\x02\x59") == []
    assert decoder.discarded_bytes == 3
    assert decoder.buffered == 1  # may be the first byte of 59 59
    assert decoder.feed(TF_OK_123CM[1:]) == [TF_OK_123CM]


def test_reset_forgets_a_partial_frame() -> None:
    decoder = tf_luna()
    decoder.feed(TF_OK_123CM[:5])
    decoder.reset()
    assert decoder.buffered == 0
    assert decoder.feed(TF_OK_800CM) == [TF_OK_800CM]


@pytest.mark.parametrize(
    ("sync", "length"), [(b"", 9), (b"\x59\x59", 1)], ids=["empty-sync", "too-short"]
)
def test_fixed_decoder_refuses_impossible_layouts(sync: bytes, length: int) -> None:
    with pytest.raises(ValueError):
        FixedFrameDecoder(sync, length, sum8_valid)


# -- property: fixed frames in garbage ------------------------------------------------------


@st.composite
def tf_frames(draw: st.DrawFn) -> bytes:
    body = SYNC + draw(st.binary(min_size=6, max_size=6))
    return body + bytes([sum(body) & 0xFF])


@st.composite
def tf_garbage(draw: st.DrawFn) -> bytes:
    """Random bytes, sync-heavy bytes, truncated frames and frames with a flipped byte."""
    frame = draw(tf_frames())
    kind = draw(st.sampled_from(["random", "syncs", "truncated", "corrupted"]))
    if kind == "random":
        return draw(st.binary(max_size=20))
    if kind == "syncs":
        return draw(st.lists(st.sampled_from([0x59, 0x00, 0xFF]), max_size=6).map(bytes))
    if kind == "truncated":
        return frame[: draw(st.integers(1, 8))]
    i = draw(st.integers(0, 8))
    return frame[:i] + bytes([frame[i] ^ draw(st.integers(1, 255))]) + frame[i + 1 :]


def interleave(frames: Sequence[bytes], garbage: Sequence[bytes]) -> tuple[bytes, list[int]]:
    """garbage[0] frame[0] garbage[1] frame[1] ...; returns the stream and the frame starts."""
    stream = bytearray()
    starts = []
    for i, frame in enumerate(frames):
        stream += garbage[i % len(garbage)] if garbage else b""
        starts.append(len(stream))
        stream += frame
    stream += garbage[-1] if garbage else b""
    return bytes(stream), starts


def only_real_windows_valid(
    stream: bytes, starts: Sequence[int], window: Callable[[bytes, int], bytes | None]
) -> bool:
    """No position except a real frame start begins a valid frame (no checksum collision)."""
    real = set(starts)
    return all(p in real or window(stream, p) is None for p in range(len(stream)))


def tf_window(stream: bytes, p: int) -> bytes | None:
    w = stream[p : p + 9]
    return w if len(w) == 9 and w.startswith(SYNC) and sum8_valid(w) else None


@settings(deadline=None)
@given(st.lists(tf_frames(), max_size=12), st.lists(tf_garbage(), max_size=12), st.data())
def test_fixed_decoder_recovers_every_frame_from_garbage_in_any_chunking(
    frames: list[bytes], garbage: list[bytes], data: st.DataObject
) -> None:
    stream, starts = interleave(frames, garbage)
    # a checksum collision (probability 1/256 per window) is a genuine frame to any decoder
    assume(only_real_windows_valid(stream, starts, tf_window))
    whole = tf_luna()
    assert whole.feed(stream) == frames
    assert whole.frames == len(frames)
    assert fed_bytes_accounted(whole, frames, len(stream))

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    chunked = tf_luna()
    assert feed_chunks(chunked, stream, cuts) == frames
    assert (chunked.frames, chunked.bad_frames, chunked.discarded_bytes, chunked.buffered) == (
        whole.frames,
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )


# -- delimiter ------------------------------------------------------------------------------


def test_lines_are_split_and_an_over_long_line_is_dropped_and_counted() -> None:
    decoder = DelimiterDecoder(b"\n", max_length=8)
    frames = decoder.feed(b"1.23\nway too long line\n\n4.5")
    assert frames == [b"1.23", b""]
    assert decoder.bad_frames == 1
    assert decoder.discarded_bytes == len(b"way too long line\n")
    assert decoder.buffered == 3
    assert decoder.feed(b"6\r\n") == [b"4.56\r"]


def test_an_over_long_line_is_not_buffered_while_waiting_for_its_end() -> None:
    decoder = DelimiterDecoder(b"\r\n", max_length=4)
    assert decoder.feed(b"x" * 1000) == []
    assert decoder.buffered <= 1  # only a possible '\r'
    assert decoder.bad_frames == 1
    assert decoder.feed(b"xx\r") == []
    assert decoder.feed(b"\nok\r\n") == [b"ok"]
    assert decoder.bad_frames == 1
    assert decoder.discarded_bytes == 1000 + 4


def test_a_line_of_exactly_max_length_is_kept() -> None:
    decoder = DelimiterDecoder(b"\n", max_length=4)
    assert decoder.feed(b"abcd\nabcde\n") == [b"abcd"]
    assert decoder.bad_frames == 1


@settings(deadline=None)
@given(
    st.lists(
        st.binary(max_size=14).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=15
    ),
    st.sampled_from([b"\n", b"\r\n"]),
    st.data(),
)
def test_delimiter_decoder_is_independent_of_chunking(
    lines: list[bytes], delimiter: bytes, data: st.DataObject
) -> None:
    max_length = 8
    tail = data.draw(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), label="tail")
    stream = b"".join(line + delimiter for line in lines) + tail
    expected = [line for line in lines if len(line) <= max_length]

    whole = DelimiterDecoder(delimiter, max_length=max_length)
    assert whole.feed(stream) == expected
    over_long_tail = len(tail) > max_length + len(delimiter) - 1  # undecided until then
    assert whole.bad_frames == len(lines) - len(expected) + over_long_tail
    assert fed_bytes_accounted(whole, expected, len(stream), extra=len(delimiter))

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    chunked = DelimiterDecoder(delimiter, max_length=max_length)
    assert feed_chunks(chunked, stream, cuts) == expected
    assert (chunked.bad_frames, chunked.discarded_bytes, chunked.buffered) == (
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )


# -- length-prefixed: Paxcounter SPI frames -----------------------------------------------
# [crc16 BE][port][len] payload, then zero padding: the firmware (src/spislave.cpp) sends
# 4 + len bytes rounded up with `size += 4 - size % 4` (so always 1..4 bytes of padding).
# The CRC is ESP-IDF's crc16_be(0, ...) over port, len and payload (the firmware has that
# line commented out, "not used yet"; a device that fills it in computes this).

PAX_MAX = 260


def crc16_be_esp(data: bytes) -> int:
    """ESP-IDF ``crc16_be(0, data)``: poly 0x1021, init and final XOR 0xFFFF (CRC-16/GENIBUS)."""
    return binascii.crc_hqx(data, 0xFFFF) ^ 0xFFFF


def pax_frame_length(header: bytes) -> int | None:
    if header[2] == 0:  # LoRaWAN port 0 carries no application data: not a Paxcounter frame
        return None
    size = 4 + header[3]
    return size + 4 - size % 4


def pax_valid(frame: bytes) -> bool:
    n = frame[3]
    return int.from_bytes(frame[:2], "big") == crc16_be_esp(frame[2 : 4 + n])


def pax_decoder() -> LengthPrefixedDecoder:
    return LengthPrefixedDecoder(4, pax_frame_length, pax_valid, max_length=PAX_MAX)


def pax_frame(port: int, payload: bytes) -> bytes:
    body = bytes([port, len(payload)]) + payload
    frame = crc16_be_esp(body).to_bytes(2, "big") + body
    return frame + bytes(4 - len(frame) % 4)


def test_crc16_be_esp_matches_the_genibus_check_value() -> None:
    assert crc16_be_esp(b"123456789") == 0xD64E  # CRC-16/GENIBUS catalogue check value


def test_paxcounter_count_frame_is_decoded_and_padding_kept() -> None:
    # port 1, plain payload wifi=7 ble=3 (shared/samples/paxcounter_plain_port1.hex)
    frame = pax_frame(1, bytes.fromhex("00 07 00 03"))
    assert len(frame) == 12
    decoder = pax_decoder()
    # the stray byte reads as a short frame announcement whose CRC fails: one byte lost
    assert decoder.feed(b"\x00" + frame + frame[:5]) == [frame]
    assert decoder.discarded_bytes == 1
    assert decoder.frames == 1
    assert decoder.buffered == 5


def test_a_corrupted_frame_is_rejected_and_the_next_one_found() -> None:
    good = pax_frame(1, bytes.fromhex("00 07 00 03"))
    bad = bytearray(pax_frame(1, bytes.fromhex("00 08 00 03")))
    bad[5] ^= 0x01
    decoder = pax_decoder()
    assert decoder.feed(bytes(bad) + good + bytes(PAX_MAX)) == [good]
    assert decoder.bad_frames >= 1


def test_a_length_outside_the_limits_is_rejected_without_waiting() -> None:
    decoder = LengthPrefixedDecoder(2, lambda h: h[1], None, max_length=10)
    assert decoder.feed(b"\x00\xff\x00\x04ab") == [b"\x00\x04ab"]
    assert decoder.bad_frames == 2  # length 255 > 10, then length 0 < header


@st.composite
def pax_frames(draw: st.DrawFn) -> bytes:
    return pax_frame(draw(st.integers(1, 255)), draw(st.binary(max_size=40)))


def pax_window(stream: bytes, p: int) -> bytes | None:
    header = stream[p : p + 4]
    if len(header) < 4:
        return None
    n = pax_frame_length(header)
    if n is None or p + n > len(stream):
        return None
    w = stream[p : p + n]
    return w if pax_valid(w) else None


@settings(deadline=None)
@given(
    st.lists(pax_frames(), max_size=8),
    st.lists(st.binary(max_size=30), max_size=8),
    st.data(),
)
def test_length_prefixed_decoder_recovers_every_frame_from_garbage_in_any_chunking(
    frames: list[bytes], garbage: list[bytes], data: st.DataObject
) -> None:
    stream, starts = interleave(frames, garbage)
    # a garbage header may announce up to PAX_MAX bytes: this much more resolves it
    stream += data.draw(st.binary(min_size=PAX_MAX, max_size=PAX_MAX), label="tail")
    assume(only_real_windows_valid(stream, starts, pax_window))
    whole = pax_decoder()
    assert whole.feed(stream) == frames
    assert fed_bytes_accounted(whole, frames, len(stream))

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    chunked = pax_decoder()
    assert feed_chunks(chunked, stream, cuts) == frames
    assert (chunked.bad_frames, chunked.discarded_bytes, chunked.buffered) == (
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )
