from django.urls import include, path

urlpatterns = [
    path("", include("sorts.urls")),
]

handler400 = "sorts.views.bad_request"
handler404 = "sorts.views.not_found"
handler500 = "sorts.views.server_error"
