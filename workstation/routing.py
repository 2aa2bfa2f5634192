from django.urls import path

from workstation.consumers import WorklistConsumer

websocket_urlpatterns = [path("ws/worklist/", WorklistConsumer.as_asgi())]
