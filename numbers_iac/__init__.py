"""numbers-iac: phone numbers as code.

Declare the numbers you want in YAML, review a plan, apply it against the providers' APIs.
"""

__version__ = "0.1.0"
