"""WebSocket consumers: relay worklist events to signed-in users."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workstation.notify import WORKLIST_GROUP, StudyEvent


class WorklistConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(WORKLIST_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(WORKLIST_GROUP, self.channel_name)

    async def study_event(self, message: StudyEvent) -> None:
        payload: dict[str, Any] = {k: v for k, v in message.items() if k != "type"}
        await self.send_json(payload)
