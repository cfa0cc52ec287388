<?php

declare(strict_types=1);

namespace App\Http;

use Closure;
use RuntimeException;
use Throwable;

enum Method: string
{
    case Get = 'GET';
    case Post = 'POST';
    case Put = 'PUT';
    case Delete = 'DELETE';

    public static function fromRequest(): self
    {
        return self::tryFrom(strtoupper($_SERVER['REQUEST_METHOD'] ?? 'GET')) ?? self::Get;
    }
}

class HttpException extends RuntimeException
{
    public function __construct(public readonly int $status, string $message = '')
    {
        parent::__construct($message ?: "HTTP {$status}", $status);
    }
}

interface Middleware
{
    public function process(array $request, Closure $next): Response;
}

final class Response
{
    private array $headers = ['Content-Type' => 'text/html; charset=utf-8'];

    public function __construct(
        public string $body = '',
        public int $status = 200,
    ) {
    }

    public static function json(mixed $data, int $status = 200): static
    {
        $response = new static(json_encode($data, JSON_THROW_ON_ERROR | JSON_PRETTY_PRINT), $status);
        return $response->withHeader('Content-Type', 'application/json');
    }

    public function withHeader(string $name, string $value): static
    {
        $clone = clone $this;
        $clone->headers[$name] = $value;
        return $clone;
    }

    public function send(): void
    {
        http_response_code($this->status);
        foreach ($this->headers as $name => $value) {
            header("{$name}: {$value}");
        }
        echo $this->body;
    }
}

class Router
{
    /** @var array<string, array<string, callable>> */
    protected array $routes = [];

    /** @var list<Middleware> */
    protected array $middleware = [];

    public function add(Method $method, string $pattern, callable $handler): static
    {
        $regex = '#^' . preg_replace('#\{(\w+)\}#', '(?P<$1>[^/]+)', rtrim($pattern, '/')) . '/?$#';
        $this->routes[$method->value][$regex] = $handler;
        return $this;
    }

    public function get(string $pattern, callable $handler): static
    {
        return $this->add(Method::Get, $pattern, $handler);
    }

    public function post(string $pattern, callable $handler): static
    {
        return $this->add(Method::Post, $pattern, $handler);
    }

    public function pipe(Middleware ...$middleware): static
    {
        array_push($this->middleware, ...$middleware);
        return $this;
    }

    public function dispatch(Method $method, string $uri): Response
    {
        $path = parse_url($uri, PHP_URL_PATH) ?: '/';
        $request = ['method' => $method, 'path' => $path, 'params' => []];

        $core = function (array $request): Response {
            foreach ($this->routes[$request['method']->value] ?? [] as $regex => $handler) {
                if (preg_match($regex, $request['path'], $matches)) {
                    $params = array_filter($matches, 'is_string', ARRAY_FILTER_USE_KEY);
                    $result = $handler(...$params);
                    return $result instanceof Response ? $result : new Response((string) $result);
                }
            }
            throw new HttpException(404, "No route for {$request['path']}");
        };

        $pipeline = array_reduce(
            array_reverse($this->middleware),
            fn (Closure $next, Middleware $mw) => fn (array $req) => $mw->process($req, $next),
            $core,
        );

        try {
            return $pipeline($request);
        } catch (HttpException $e) {
            return Response::json(['error' => $e->getMessage()], $e->status);
        } catch (Throwable $e) {
            error_log((string) $e);
            return Response::json(['error' => 'Internal Server Error'], 500);
        } finally {
            unset($request);
        }
    }
}
