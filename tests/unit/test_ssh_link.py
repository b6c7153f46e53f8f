"""transports/ssh/link.py: the paramiko Transport's close() while a channel is being opened on another thread."""

from __future__ import annotations

import socket
import threading
import time

import paramiko

from rmmctl.transports.ssh.link import Transport


def test_close_waits_for_a_channel_being_registered_instead_of_failing_on_it() -> None:
    """open_channel() puts a new Channel in the transport's table and links it to the transport, both under
    the transport's lock; close() on another thread in between must not see the half-made channel."""
    ours, theirs = socket.socketpair()
    t = Transport(ours)
    t.active = True  # as after the handshake (no reader thread runs: stop_thread has nothing to join)
    registered = threading.Event()

    def open_channel() -> None:  # open_channel's critical section, with a pause inside it
        with t.lock:
            chan = paramiko.Channel(7)
            t._channels.put(7, chan)
            registered.set()
            time.sleep(0.2)
            chan._set_transport(t)

    opener = threading.Thread(target=open_channel)
    opener.start()
    registered.wait(5)
    try:
        t.close()  # paramiko's own close() raises AttributeError here (the channel's transport is None)
    finally:
        opener.join(5)
        theirs.close()
    assert t._channels.get(7) is None and ours.fileno() == -1  # the channel unlinked, the socket closed
