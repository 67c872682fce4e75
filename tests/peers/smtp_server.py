"""An SMTP server for tests/notifications.rs, on Debian's aiosmtpd: STARTTLS required,
AUTH required (user and password from the command line), every message written to a
folder as <n>.eml with <n>.json (envelope and the user that authenticated).

usage: smtp_server.py CERT KEY USER PASSWORD OUT_DIR [tls]
With `tls`, the connection is TLS from its first byte (implicit TLS) instead of STARTTLS.
Prints the port it listens on (127.0.0.1, chosen by the system), then serves until killed.
"""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cert, key, user, password, out_dir = sys.argv[1:6]
implicit = sys.argv[6:7] == ["tls"]
count = 0


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        base = os.path.join(out_dir, str(count))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json.tmp", "w") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "user": (session.auth_data.login.decode()
                             if isinstance(session.auth_data, LoginPassword) else None),
                    "tls": session.ssl is not None,
                },
                f,
            )
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)


def factory():
    if implicit:
        return SMTP(
            Handler(),
            hostname="localhost",
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=False,
        )
    return SMTP(
        Handler(),
        hostname="localhost",
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
server = loop.run_until_complete(
    loop.create_server(factory, "127.0.0.1", 0, ssl=context if implicit else None)
)
print(server.sockets[0].getsockname()[1], flush=True)
loop.run_forever()
