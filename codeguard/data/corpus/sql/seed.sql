-- Sample data for development databases.

INSERT INTO authors (id, name, born_year, country) VALUES
    (1, 'Ursula K. Le Guin', 1929, 'US'),
    (2, 'Italo Calvino', 1923, 'IT'),
    (3, 'Stanislaw Lem', 1921, 'PL'),
    (4, 'Octavia E. Butler', 1947, 'US');

INSERT INTO publishers (id, name, website) VALUES
    (1, 'Harbour Press', 'https://harbour.example'),
    (2, 'Northwind Books', NULL);

INSERT INTO books (id, isbn, title, author_id, publisher_id, published_on, price_cents, pages) VALUES
    (1, '9780000000011', 'The Dispossessed', 1, 1, '1974-05-01', 1599, 387),
    (2, '9780000000028', 'Invisible Cities', 2, 2, '1972-11-01', 1250, 165),
    (3, '9780000000035', 'Solaris', 3, 1, '1961-06-01', 1400, 204),
    (4, '9780000000042', 'Kindred', 4, NULL, '1979-06-01', 1699, 264),
    (5, '9780000000059', 'The Left Hand of Darkness', 1, 2, '1969-03-01', 1499, 304);

INSERT INTO customers (id, email, full_name, city) VALUES
    (1, 'mara@example.com', 'Mara Quinn', 'Leeds'),
    (2, 'tomas@example.com', 'Tomas Berg', 'Oslo'),
    (3, 'li.wei@example.com', 'Li Wei', NULL);

INSERT INTO orders (id, customer_id, status, placed_at) VALUES
    (100, 1, 'shipped', '2024-01-15 10:30:00'),
    (101, 2, 'pending', '2024-02-02 18:05:00'),
    (102, 1, 'pending', '2024-02-20 09:12:00');

INSERT INTO order_items (order_id, book_id, quantity, unit_cents) VALUES
    (100, 1, 1, 1599),
    (100, 3, 2, 1400),
    (101, 2, 1, 1250),
    (102, 4, 1, 1699),
    (102, 5, 3, 1499);

INSERT INTO reviews (id, book_id, customer_id, rating, body) VALUES
    (1, 1, 1, 5, 'A quiet, careful book about freedom.'),
    (2, 3, 1, 4, 'Strange and memorable.'),
    (3, 2, 2, 5, NULL);

-- Prices went up by ten percent for books still in print.
UPDATE books
SET price_cents = price_cents * 110 / 100
WHERE in_print = TRUE AND published_on < '1975-01-01';

UPDATE orders
SET status = 'shipped', shipped_at = CURRENT_TIMESTAMP
WHERE id = 101;

DELETE FROM reviews
WHERE body IS NULL AND rating < 3;
