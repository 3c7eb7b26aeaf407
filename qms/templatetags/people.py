"""``{% load people %}`` — people by their names, never by their logins (``qms.people``)."""
from django import template

from qms.people import actor, person

register = template.Library()
register.filter("person", person)
register.filter("actor", actor)
