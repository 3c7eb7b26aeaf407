from django.contrib.auth import views as auth_views
from django.urls import include, path

from qms.web import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("scope/", views.scope_switch, name="scope_switch"),
    path("roster/", include("qms.web.roster_urls")),
]
