"""The demo admin's date formats (FORMAT_MODULE_PATH): the ones bootwebhooks' pages write."""

from bootwebhooks.inbox.words import DATE_FORMAT, DATETIME_FORMAT

SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
