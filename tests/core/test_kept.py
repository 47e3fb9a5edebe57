"""The deferred-acknowledgement scope (hub.core.kept)."""

from __future__ import annotations

import asyncio

from hub.core.kept import close_scope, current_scope, open_scope


async def test_a_scope_counts_in_its_own_task_only() -> None:
    """A task a source starts while handling a message copies the context; its emits
    must wait for their own commit, not join the message's acknowledgement."""
    scope = open_scope()
    assert current_scope() is scope

    async def inner() -> object:
        return current_scope()

    assert await asyncio.create_task(inner()) is None
    assert current_scope() is scope
    close_scope()
    assert current_scope() is None
