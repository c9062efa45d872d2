"""Live outputs to other programs (OSC, WebSocket, Lab Streaming Layer), fed the same ``FrameResult`` the display
gets. Each output has its own one-slot mailbox and thread, so none can slow the frame loop. No Qt, no torch.
"""

from app.publish.base import Publisher, PublisherStatus
from app.publish.hub import PublisherSet, build_publishers
from app.publish.options import OutputConfig, add_output_arguments, config_from_args, parse_host_port

__all__ = ["OutputConfig", "Publisher", "PublisherSet", "PublisherStatus", "add_output_arguments", "build_publishers",
           "config_from_args", "parse_host_port"]
