// Who is signed in. The token lives in sessionStorage only: it goes when the tab closes, is never
// shared with other tabs through localStorage, and never appears in a URL.
const tokenKey = "raydeploy.token";

import type { components } from "./api/schema";

export type Identity = components["schemas"]["Whoami"];
export type Role = Identity["role"];
const ladder: Role[] = ["viewer", "operator", "approver", "admin"];

export function getToken(): string | null {
    try {
        return sessionStorage.getItem(tokenKey);
    } catch {
        return null;
    }
}

export function setToken(token: string | null): void {
    if (token) sessionStorage.setItem(tokenKey, token);
    else sessionStorage.removeItem(tokenKey);
}

/** Whether `identity` has at least `role` (roles are a ladder, each including the ones below). */
export function can(identity: Identity | null, role: Role): boolean {
    return identity !== null && ladder.indexOf(identity.role) >= ladder.indexOf(role);
}
