"""分页 — ``?page=N&page_size=M``; a page past the end is a 404 with the JSON error."""
from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
