-- Migration 0002: stock tracking and customer loyalty tiers.

BEGIN;

ALTER TABLE books ADD COLUMN stock INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN tier VARCHAR(10) DEFAULT 'basic';

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    book_id     INTEGER NOT NULL REFERENCES books (id),
    delta       INTEGER NOT NULL,
    reason      VARCHAR(40) NOT NULL,
    moved_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_stock_movements_book ON stock_movements (book_id, moved_at);

-- Initial stock: ten copies of every book in print.
INSERT INTO stock_movements (book_id, delta, reason)
SELECT id, 10, 'initial'
FROM books
WHERE in_print = TRUE;

UPDATE books
SET stock = (
    SELECT COALESCE(SUM(m.delta), 0)
    FROM stock_movements AS m
    WHERE m.book_id = books.id
);

-- Customers who spent more than 50.00 become gold members.
UPDATE customers
SET tier = 'gold'
WHERE id IN (
    SELECT o.customer_id
    FROM orders AS o
    JOIN order_items AS oi ON oi.order_id = o.id
    GROUP BY o.customer_id
    HAVING SUM(oi.quantity * oi.unit_cents) > 5000
);

CREATE VIEW low_stock AS
SELECT b.id, b.title, b.stock
FROM books AS b
WHERE b.stock < 3 AND b.in_print = TRUE;

COMMIT;
