"""The admin's formats for templates: `{{ value|when }}`, `{{ value|day }}`."""

from django import template

from bootwebhooks.inbox import words

register = template.Library()
register.filter("when", words.when)
register.filter("day", words.day)
register.filter("money", words.money)
