from django.urls import path

from qms.web import account_views as views
from qms.web import notice_views, otp_views

urlpatterns = [
    path("", views.account_list, name="account_list"),
    path("members/<id:pk>/", views.account_member, name="account_member"),
    path("members/<id:pk>/create/", views.account_create, name="account_create"),
    path("members/<id:pk>/grant/", views.account_grant, name="account_grant"),
    path("logins/<id:pk>/reset/", views.account_reset, name="account_reset"),
    path("logins/<id:pk>/disable/", views.account_disable, name="account_disable"),
    path("logins/<id:pk>/enable/", views.account_enable, name="account_enable"),
    path("grants/<id:pk>/expire/", views.grant_expire, name="grant_expire"),
]
urlpatterns += [
    path("logins/<id:pk>/authenticator/reset/", otp_views.account_otp_reset, name="account_otp_reset"),
    path("lockouts/", views.lockout_list, name="lockout_list"),
    path("lockouts/unlock/", views.lockout_unlock, name="lockout_unlock"),
    path("id-number-views/", views.pii_access_log, name="pii_access_log"),
]
urlpatterns += [  # 通知送达 (qms/web/notice_views.py)
    path("robots/", notice_views.robot_list, name="robot_list"),
    path("robots/<id:pk>/", notice_views.robot_edit, name="robot_edit"),
    path("deliveries/", notice_views.delivery_failures, name="delivery_failures"),
]
