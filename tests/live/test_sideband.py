"""The Live mock's sideband (``…/live/sessions/{id}/attach``): a second real WebSocket on a
session the mock serves on a primary connection. Every event a sideband receives is
checked against the SDK's sideband union (``ConnectServerEvent``)."""

from __future__ import annotations

import base64

import pytest

from rtcapture.codec import decode_samples
from rtcapture.mock import serve_mock
from rtcapture.mock.scenario import parse_scenario
from rtcapture.protocol import PCM16, AudioFormat, Encoding

from .helpers import SIDEBAND_MODELS, LiveClient, check_against_sdk, quiet, spoken, start

BOOKING = parse_scenario({"user_audio": [{"transcript": "Book a table"}],
                          "rules": [{"match": "book", "tool_call": {"name": "book"}},
                                    {"after_tool": "book", "reply": "Done: {tool_output}"}]})
PCM16_16K = AudioFormat(Encoding.PCM16, 16000)


def all_valid(client: LiveClient) -> None:
    """Every event the sideband received validates against its SDK type."""
    for event in client.events:
        check_against_sdk(event, SIDEBAND_MODELS)


def audio(events: list[dict], kind: str, key: str) -> bytes:
    return b"".join(base64.b64decode(e[key]) for e in events if e["type"] == kind)


def session_events(events: list[dict]) -> list[dict]:
    """Events other than audio and this connection's own sync probes' errors."""
    return [e for e in events if e["type"] not in (
        "session.output_audio.delta", "session.input_audio.append")
        and not (e["type"] == "error" and e["error"].get("client_event_id") == "sync")]


async def opened(url: str, session: dict | None = None) -> tuple[LiveClient, str]:
    client = await LiveClient.open_live(url)
    started = await client.answer(start(session))
    return client, started[0]["session"]["id"]


@pytest.mark.parametrize("fmt", [PCM16, PCM16_16K], ids=["pcm24k", "pcm16k"])
async def test_sideband_sees_the_session_and_both_directions_of_audio(fmt: AudioFormat
                                                                      ) -> None:
    scenario = parse_scenario({"user_audio": [{"transcript": "Hello there, mock."}]})
    session = {"audio": {"format": {"type": "audio/pcm", "rate": fmt.rate}}}
    async with serve_mock(fast=True, scenario=scenario) as mock:
        primary, sid = await opened(mock.url, session)
        side = await LiveClient.attach(mock.url, sid)
        first = await side.next()
        assert first["type"] == "session.started" and first["session"]["id"] == sid
        assert "client_event_id" not in first
        assert first["session"]["audio"]["format"] == {"type": "audio/pcm", "rate": fmt.rate}
        talk = spoken("Hello there mock", fmt) + quiet(3000, fmt)
        got = await primary.answer(talk)
        muted = quiet(500, fmt) + spoken("ignored", fmt)[:fmt.rate]  # while muted
        got += await primary.answer({"type": "session.input_audio.mute", "event_id": "m"},
                                    muted)
        seen = await side.answer()  # everything published before the sideband's probe
        # the session's own events, the same frames (ids included) on both connections
        assert session_events(seen) == session_events(got)
        assert any(e["type"] == "session.output_transcript.delta" for e in seen)
        assert any(e["type"] == "session.input_audio.muted" for e in seen)
        # input reflected as received (before mute), PCM16 24 kHz, no ids or timestamps
        sent_in = talk + muted
        reflected_in = audio(seen, "session.input_audio.append", "audio")
        ins = [e for e in seen if e["type"] == "session.input_audio.append"]
        assert all(set(e) == {"type", "audio"} for e in ins)
        outs = [e for e in seen if e["type"] == "session.output_audio.delta"]
        primary_out = audio(got, "session.output_audio.delta", "delta")
        reflected_out = audio(seen, "session.output_audio.delta", "delta")
        if fmt == PCM16:
            assert reflected_in == sent_in and reflected_out == primary_out
        else:
            assert len(reflected_in) == len(sent_in) * 3 // 2
            assert len(reflected_out) == len(primary_out) * 3 // 2
            assert any(decode_samples(reflected_out, PCM16))
        # output reflections are placed on the timeline, back to back from zero
        assert outs[0]["start_ms"] == 0 and all(
            a["end_ms"] == b["start_ms"] for a, b in zip(outs, outs[1:], strict=False))
        assert outs[-1]["end_ms"] == round(len(reflected_out) / PCM16.bytes_per_ms)
        assert all("event_id" not in e for e in outs)
        # the primary hears none of the sideband's reflections
        assert all("start_ms" not in e for e in got if e["type"] == "session.output_audio.delta")
        assert not any(e["type"] == "session.input_audio.append" for e in got)
        all_valid(side)
        await primary.close()
        await side.close()


async def test_sideband_commands_act_on_the_session() -> None:
    async with serve_mock(fast=True, scenario=BOOKING) as mock:
        primary, sid = await opened(mock.url, {"delegation": {"type": "client"}})
        side = await LiveClient.attach(mock.url, sid)
        await side.next()
        got = await primary.answer(spoken("Book a table") + quiet(800))
        did = next(e for e in got if e["type"] == "session.delegation.created")[
            "delegation"]["id"]
        # the sideband answers the client delegation; the primary hears the result
        acked = await side.answer({"type": "session.commentary.append", "event_id": "c1",
                                   "delegation_id": did, "content": "table at seven"})
        mine = [e for e in acked if e["type"] == "session.commentary.appended"]
        assert mine and mine[0]["client_event_id"] == "c1"
        heard = await primary.answer(quiet(4000))
        assert heard[0] == mine[0]  # the same acknowledgement reached the primary
        assert "".join(e["delta"] for e in heard if e["type"] ==
                       "session.output_transcript.delta") == "Done: table at seven"
        # mute from the sideband mutes the session
        await side.answer({"type": "session.input_audio.mute", "event_id": "sm"})
        told = await primary.answer()
        assert [(e["type"], e.get("client_event_id")) for e in session_events(told)] == [
            ("session.input_audio.muted", "sm")]
        # what a sideband may not send, and a refused command: errors for it alone
        for event, param in (({"type": "session.start", "session": {"model": "m"}}, "type"),
                             ({"type": "session.input_audio.append", "audio": ""}, "type"),
                             ({"type": "session.thinking.append", "delegation_id": "del_x",
                               "content": "?"}, "delegation_id")):
            refused = await side.answer({**event, "event_id": "bad"})
            assert [e["type"] for e in session_events(refused)] == ["error"]
            assert session_events(refused)[0]["error"]["param"] == param
            assert session_events(refused)[0]["error"]["client_event_id"] == "bad"
        dtmf = await side.answer({"type": "transport.dtmf.send", "event": "5"})
        assert session_events(dtmf)[0]["error"]["code"] == "invalid_request"
        assert session_events(await primary.answer()) == []
        all_valid(side)
        await primary.close()
        await side.close()


@pytest.mark.parametrize(("query", "code"), [("", 1005), ("?graceful_close=true", 1000)])
async def test_primary_close_ends_the_sideband(query: str, code: int) -> None:
    async with serve_mock(fast=True) as mock:
        primary, sid = await opened(mock.url)
        side = await LiveClient.attach(mock.url, sid, query)
        await side.next()
        closed = await primary.answer({"type": "session.close", "event_id": "bye"},
                                      last="session.closed")
        assert await side.until("session.closed") == closed
        await side.ws.wait_closed()
        assert side.ws.close_code == code
        await primary.ws.wait_closed()
        assert primary.ws.close_code == 1000
        all_valid(side)


async def test_sideband_close_ends_the_session() -> None:
    async with serve_mock(fast=True) as mock:
        primary, sid = await opened(mock.url)
        side = await LiveClient.attach(mock.url, sid, "?graceful_close=true")
        await side.next()
        await side.send({"type": "session.close", "event_id": "sb"})
        ended = await side.until("session.closed")
        heard = await primary.until("session.closed")
        assert ended[-1] == heard[-1]
        assert heard[-1]["reason"] == "close_requested" and heard[-1]["client_event_id"] == "sb"
        await primary.ws.wait_closed()
        await side.ws.wait_closed()
        assert (primary.ws.close_code, side.ws.close_code) == (1000, 1000)
        gone = await LiveClient.attach(mock.url, sid)  # the session is over
        refused = await gone.next()
        assert refused["error"]["code"] == "session_not_found"
        all_valid(side)


async def test_primary_dropping_loses_the_session_and_sideband_leaving_does_not() -> None:
    async with serve_mock(fast=True) as mock:
        primary, sid = await opened(mock.url)
        early = await LiveClient.attach(mock.url, sid)
        await early.next()
        await early.close()  # a sideband leaving does not end the session
        assert session_events(await primary.answer(quiet(300))) == []
        side = await LiveClient.attach(mock.url, sid)
        again = await side.next()
        assert again["type"] == "session.started" and again["session"]["id"] == sid
        await primary.ws.close()  # no session.close
        lost = await side.until("session.closed")
        assert lost[-1]["reason"] == "connection_lost"
        await side.ws.wait_closed()
        assert side.ws.close_code == 1005
        all_valid(side)
        all_valid(early)


async def test_attach_to_an_unknown_session_is_refused() -> None:
    async with serve_mock(fast=True) as mock:
        side = await LiveClient.attach(mock.url, "live_nope")
        refused = await side.next()
        check_against_sdk(refused, SIDEBAND_MODELS)
        assert refused["type"] == "error"
        assert refused["error"]["code"] == "session_not_found"
        assert refused["error"]["type"] == "invalid_request_error"
        assert "live_nope" in refused["error"]["message"]
        await side.ws.wait_closed()
        assert side.ws.close_code == 1008
        assert side.events == [refused]
