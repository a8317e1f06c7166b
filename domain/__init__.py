"""Small domain helpers shared by every role: money and masking of personal data."""
