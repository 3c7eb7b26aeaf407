from django.contrib.auth import views as auth_views
from django.urls import include, path

from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)
from qms.web import account_views, calendar_views, notice_views, otp_views, views
from qms.web.login import LoginForm  # noqa: I001

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html", authentication_form=LoginForm),
         name="login"),  # LoginForm: a refused 企业目录 sign-in says why (qms/directory.py)
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("login/code/", otp_views.otp_verify, name="otp_verify"),
    path("account/authenticator/", otp_views.otp_setup, name="otp_setup"),
    path("healthz", views.healthz, name="healthz"),
    path("", views.home, name="home"),
    path("scope/", views.scope_switch, name="scope_switch"),
    path("units/", views.unit_tree, name="unit_tree"),
    path("units/new/", views.unit_create, name="unit_create"),
    path("units/<code:code>/", views.unit_detail, name="unit_detail"),
    path("units/<code:code>/edit/", views.unit_edit, name="unit_edit"),
    path("units/<code:code>/positions/new/", views.position_add, name="position_add"),
    path("units/<code:code>/decisions/new/", views.decision_add, name="decision_add"),
    path("decisions/<id:pk>/file/", views.decision_file, name="decision_file"),
    path("positions/<id:pk>/end/", views.position_end, name="position_end"),
    path("members/", views.member_list, name="member_list"),
    path("members/export.xlsx", views.member_export, name="member_export"),
    path("members/new/", views.member_new, name="member_new"),
    path("members/<id:pk>/", views.member_detail, name="member_detail"),
    path("members/<id:pk>/amend/", views.member_amend, name="member_amend"),
    path("members/<id:pk>/transfer/", views.member_transfer, name="member_transfer"),
    path("members/<id:pk>/status/", views.member_status, name="member_status"),
    path("members/<id:pk>/events/new/", views.member_event, name="member_event"),
    path("checks/", views.org_check, name="org_check"),
    path("rules/", views.rule_catalogue, name="rule_catalogue"),
    path("rules/calendar/", calendar_views.work_calendar, name="work_calendar"),
    path("ledger/", views.ledger_page, name="ledger"),
    path("permissions/", views.permissions_page, name="permissions"),
    path("notifications/", views.notifications, name="notifications"),
    path("roster/", include("qms.web.roster_urls")),
    path("account/", account_views.my_account, name="my_account"),
    path("account/notices/", notice_views.channels_choose, name="notice_channels"),  # 接收通知的方式
    path("accounts/", include("qms.web.account_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
