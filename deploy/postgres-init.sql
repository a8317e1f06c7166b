-- refundwatch's own database beside Temporal's (created by the official postgres image at first start).
CREATE DATABASE refundwatch;
