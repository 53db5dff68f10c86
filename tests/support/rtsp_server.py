#!/usr/bin/python3
"""A real RTSP server on loopback for the stream tests: GStreamer's gst-rtsp-server with basic auth.

Runs with the SYSTEM python (Debian's python3-gi + gir1.2-gst-rtsp-server-1.0), not the venv:
    /usr/bin/python3 tests/rtsp_server.py --port 8554 --user user --password secret
serves an H.264 test pattern at rtsp://user:secret@127.0.0.1:8554/test and prints one line
"ready rtsp://127.0.0.1:PORT/test" on stdout once it is listening. Stop it with SIGTERM or SIGKILL.
With --file VIDEO.mp4 (H.264, short GOP) it serves that file in real time instead, a camera that
shows real people (tests/support/app_protocol.py loops TUD-Stadtmitte into one).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    if args.file:  # already H.264 with a short GOP: no encoding here, so three servers cost little
        source = f'filesrc location="{args.file}" ! qtdemux ! h264parse'
        factory.set_launch(f"( {source} ! rtph264pay name=pay0 pt=96 config-interval=1 )")
    else:
        # Short GOP (one keyframe a second) so a client that (re)connects decodes within a second.
        size = f"width={args.width},height={args.height},framerate={args.fps}/1"
        factory.set_launch(
            f"( videotestsrc is-live=true pattern=ball ! video/x-raw,{size} ! x264enc tune=zerolatency "
            f"speed-preset=ultrafast key-int-max={args.fps} ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
    factory.set_shared(True)

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory("/test", factory)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--file", default="", help="an H.264 MP4 served in real time instead of a pattern")
    args = parser.parse_args()

    Gst.init(None)
    server = build_server(args)
    if server.attach(None) == 0:
        print(f"error: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"ready rtsp://127.0.0.1:{args.port}/test", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
