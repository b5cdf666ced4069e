"""A real SMTP server for pagerd's tests (aiosmtpd): stores every message it receives as
DIR/<n>.eml and prints "PORT <n>" once listening. With --tls CERT KEY it offers STARTTLS and
requires it before MAIL.

    python3 smtp_sink.py DIR [--tls CERT KEY]
"""

import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(f"X-Tls: {'yes' if session.ssl else 'no'}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 2.0.0 Ok: stored as message " + str(n)


async def serve(directory, tls):
    kwargs = {}
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        kwargs = {"tls_context": context, "require_starttls": True}
    handler = Store(directory)
    loop = asyncio.get_running_loop()
    # Port 0: the kernel picks a free port, so parallel tests never collide.
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="pagerd-test-smtp", **kwargs), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # Until the test closes our stdin (or kills us).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main():
    tls = sys.argv[3:5] if len(sys.argv) > 2 and sys.argv[2] == "--tls" else None
    asyncio.run(serve(sys.argv[1], tls))


if __name__ == "__main__":
    main()
