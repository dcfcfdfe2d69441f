"""gateway.protocol.seam: what a bridge sees of the gateway, satisfied by the hub and the command router."""

from __future__ import annotations

from gateway.catalogue import Catalogue
from gateway.commands import CommandRouter
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.protocol.seam import CommandHandler, CommandResult, ReadingSource


def test_the_hub_and_the_router_are_what_a_bridge_needs() -> None:
    """The hub has every member of ReadingSource and the router every member of CommandHandler."""
    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("gw", "boot", metrics=metrics, catalogue=catalogue)
    source: ReadingSource = hub
    handler: CommandHandler = CommandRouter({}, {}, hub, catalogue=catalogue, metrics=metrics)
    members = ("gateway_id", "boot_id", "catalogue", "add_sink", "add_status_sink")
    assert [name for name in members if not hasattr(source, name)] == []
    assert (source.gateway_id, source.boot_id, callable(handler.execute)) == ("gw", "boot", True)


def test_a_command_result_carries_no_reason_unless_given() -> None:
    """CommandResult defaults: no value, no error, no retry hint."""
    assert CommandResult(True, "relay") == CommandResult(True, "relay", None, None, None)
