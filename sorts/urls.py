from django.urls import path

from sorts import views

urlpatterns = [
    # The classroom's paths: sync views, one algorithm each.
    path("test/normal_sort/", views.classroom_view("builtin")),
    path("test/priority_queue/", views.classroom_view("priority_queue")),
    path("test/bubble_sort/", views.classroom_view("bubble")),
    # Ping first, so that "ping" is never taken for an algorithm name.
    path("sync/ping/", views.sync_ping),
    path("async/ping/", views.async_ping),
    path("sync/<str:algorithm>/", views.sync_sort),
    path("async/thread/<str:algorithm>/", views.thread_sort),
    path("async/process/<str:algorithm>/", views.process_sort),
    path("async/loop/<str:algorithm>/", views.loop_sort),
    path("async/sensitive/<str:algorithm>/", views.sensitive_sort),
]
