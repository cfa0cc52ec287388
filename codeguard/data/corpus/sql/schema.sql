-- Schema for a small online bookshop.
-- Tables are created in dependency order so foreign keys resolve.

CREATE TABLE authors (
    id          INTEGER PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    born_year   INTEGER,
    country     CHAR(2),
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE publishers (
    id      INTEGER PRIMARY KEY,
    name    VARCHAR(200) NOT NULL UNIQUE,
    website VARCHAR(255)
);

CREATE TABLE books (
    id            INTEGER PRIMARY KEY,
    isbn          CHAR(13) NOT NULL UNIQUE,
    title         VARCHAR(300) NOT NULL,
    author_id     INTEGER NOT NULL REFERENCES authors (id),
    publisher_id  INTEGER REFERENCES publishers (id) ON DELETE SET NULL,
    published_on  DATE,
    price_cents   INTEGER NOT NULL CHECK (price_cents >= 0),
    pages         INTEGER,
    in_print      BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    email       VARCHAR(320) NOT NULL UNIQUE,
    full_name   VARCHAR(200) NOT NULL,
    city        VARCHAR(100),
    signed_up   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status       VARCHAR(20) NOT NULL DEFAULT 'pending',
    placed_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    shipped_at   TIMESTAMP
);

CREATE TABLE order_items (
    order_id     INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    book_id      INTEGER NOT NULL REFERENCES books (id),
    quantity     INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0),
    unit_cents   INTEGER NOT NULL,
    PRIMARY KEY (order_id, book_id)
);

CREATE TABLE reviews (
    id           INTEGER PRIMARY KEY,
    book_id      INTEGER NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    rating       SMALLINT NOT NULL CHECK (rating >= 1 AND rating <= 5),
    body         TEXT,
    created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_books_author ON books (author_id);
CREATE INDEX idx_books_published ON books (published_on);
CREATE INDEX idx_orders_customer ON orders (customer_id, placed_at);
CREATE UNIQUE INDEX idx_reviews_once ON reviews (book_id, customer_id);

-- Books with their author and average rating.
CREATE VIEW book_summary AS
SELECT
    b.id,
    b.title,
    a.name AS author,
    p.name AS publisher,
    b.price_cents / 100.0 AS price,
    COUNT(r.id) AS review_count,
    AVG(r.rating) AS avg_rating
FROM books AS b
JOIN authors AS a ON a.id = b.author_id
LEFT JOIN publishers AS p ON p.id = b.publisher_id
LEFT JOIN reviews AS r ON r.book_id = b.id
GROUP BY b.id, b.title, a.name, p.name, b.price_cents;
