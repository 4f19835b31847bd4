"""Test doubles for the services Paperboy talks to, served over real local sockets."""
