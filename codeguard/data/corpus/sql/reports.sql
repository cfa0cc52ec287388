-- Reporting queries used by the back office dashboard.

-- 1. Revenue per customer, biggest spenders first.
SELECT
    c.id,
    c.full_name,
    COUNT(DISTINCT o.id) AS orders,
    SUM(oi.quantity * oi.unit_cents) / 100.0 AS revenue
FROM customers AS c
JOIN orders AS o ON o.customer_id = c.id
JOIN order_items AS oi ON oi.order_id = o.id
WHERE o.status <> 'cancelled'
GROUP BY c.id, c.full_name
HAVING SUM(oi.quantity * oi.unit_cents) > 1000
ORDER BY revenue DESC
LIMIT 10;

-- 2. Monthly sales using a common table expression.
WITH monthly AS (
    SELECT
        EXTRACT(YEAR FROM o.placed_at) AS year,
        EXTRACT(MONTH FROM o.placed_at) AS month,
        SUM(oi.quantity) AS copies,
        SUM(oi.quantity * oi.unit_cents) AS cents
    FROM orders AS o
    JOIN order_items AS oi ON oi.order_id = o.id
    GROUP BY EXTRACT(YEAR FROM o.placed_at), EXTRACT(MONTH FROM o.placed_at)
)
SELECT year, month, copies, cents / 100.0 AS revenue
FROM monthly
ORDER BY year, month;

-- 3. Books that have never been ordered.
SELECT b.id, b.title
FROM books AS b
LEFT JOIN order_items AS oi ON oi.book_id = b.id
WHERE oi.book_id IS NULL
ORDER BY b.title;

-- 4. Authors with at least one highly rated book.
SELECT a.name, a.country
FROM authors AS a
WHERE EXISTS (
    SELECT 1
    FROM books AS b
    JOIN reviews AS r ON r.book_id = b.id
    WHERE b.author_id = a.id AND r.rating >= 4
)
ORDER BY a.name;

-- 5. Price bands.
SELECT
    CASE
        WHEN price_cents < 1300 THEN 'budget'
        WHEN price_cents BETWEEN 1300 AND 1599 THEN 'standard'
        ELSE 'premium'
    END AS band,
    COUNT(*) AS books,
    MIN(price_cents) AS cheapest,
    MAX(price_cents) AS dearest
FROM books
WHERE in_print = TRUE
GROUP BY 1
ORDER BY MIN(price_cents);

-- 6. Customers who ordered every book by a given author.
SELECT c.full_name
FROM customers AS c
WHERE NOT EXISTS (
    SELECT 1 FROM books AS b
    WHERE b.author_id = 1
      AND b.id NOT IN (
          SELECT oi.book_id
          FROM orders AS o
          JOIN order_items AS oi ON oi.order_id = o.id
          WHERE o.customer_id = c.id
      )
);

-- 7. Rank books by rating within each author.
SELECT
    a.name AS author,
    b.title,
    AVG(r.rating) AS avg_rating,
    RANK() OVER (PARTITION BY a.id ORDER BY AVG(r.rating) DESC) AS rank_in_author
FROM books AS b
JOIN authors AS a ON a.id = b.author_id
JOIN reviews AS r ON r.book_id = b.id
GROUP BY a.id, a.name, b.id, b.title;

-- Remove pending orders older than ninety days.
DELETE FROM orders
WHERE status = 'pending'
  AND placed_at < CURRENT_DATE - INTERVAL '90 days';
