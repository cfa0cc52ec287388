<?php

declare(strict_types=1);

require_once __DIR__ . '/Validator.php';
require_once __DIR__ . '/Router.php';

use App\Http\{Method, Middleware, Response, Router, HttpException};
use App\Validation\Validator;

final class TimingMiddleware implements Middleware
{
    public function process(array $request, Closure $next): Response
    {
        $start = hrtime(true);
        $response = $next($request);
        $elapsed = (hrtime(true) - $start) / 1e6;
        return $response->withHeader('X-Response-Time', number_format($elapsed, 2) . 'ms');
    }
}

$users = [
    1 => ['name' => 'Ada', 'email' => 'ada@example.com'],
    2 => ['name' => 'Linus', 'email' => 'linus@example.org'],
];

$router = (new Router())
    ->pipe(new TimingMiddleware())
    ->get('/', static fn () => '<h1>It works</h1>')
    ->get('/users', static fn () => Response::json(array_values($users)))
    ->get('/users/{id}', static function (string $id) use ($users): Response {
        $user = $users[(int) $id] ?? null;
        if ($user === null) {
            throw new HttpException(404, "User {$id} not found");
        }
        return Response::json($user);
    })
    ->post('/users', static function () use (&$users): Response {
        $input = json_decode(file_get_contents('php://input') ?: '{}', true) ?? [];
        $validator = new Validator($input, [
            'name' => 'required|string|max:64',
            'email' => ['required', 'email'],
        ]);
        if ($validator->fails()) {
            return Response::json($validator, 422);
        }
        $id = max(array_keys($users)) + 1;
        $users[$id] = ['name' => $input['name'], 'email' => $input['email']];
        return Response::json(['id' => $id] + $users[$id], 201);
    });

if (PHP_SAPI === 'cli') {
    $uri = $argv[1] ?? '/';
    echo $router->dispatch(Method::Get, $uri)->body, PHP_EOL;
    exit(0);
}

$router->dispatch(Method::fromRequest(), $_SERVER['REQUEST_URI'] ?? '/')->send();
