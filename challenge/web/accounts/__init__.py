"""Accounts in the browser: sign up, sign in and out, and the account page (sessions, API
tokens, teams). The rules are the accounts domain's (``challenge.accounts.service``): this
package reads forms, rate limits failed sign-ins and sets cookies."""
